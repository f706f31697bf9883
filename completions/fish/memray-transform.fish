complete -c memray-transform -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray-transform -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray-transform -s o -l output -d 'Output file name (- for standard output)' -r -F
complete -c memray-transform -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray-transform -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray-transform -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray-transform -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray-transform -s V -l version -d 'Print version'
