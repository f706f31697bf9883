complete -c memray-parse -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray-parse -s V -l version -d 'Print version'
