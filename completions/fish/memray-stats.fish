complete -c memray-stats -s n -l num-largest -d 'Displays the top \'n\' largest allocating functions' -r
complete -c memray-stats -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray-stats -s o -l output -d 'Output file name for JSON output' -r -F
complete -c memray-stats -l json -d 'Exports stats as JSON'
complete -c memray-stats -l by-process -d 'With a capture set: one section per process (in order of start) instead of all of them together'
complete -c memray-stats -s f -l force -d 'If the JSON output file already exists, overwrite it'
complete -c memray-stats -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray-stats -s V -l version -d 'Print version'
