complete -c memray-live -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray-live -s V -l version -d 'Print version'
