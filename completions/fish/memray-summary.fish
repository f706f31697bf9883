complete -c memray-summary -s s -l sort-column -d 'Column number to sort on (1: total memory, 2: total %, 3: own memory, 4: own %, 5: allocation count)' -r
complete -c memray-summary -s r -l max-rows -d 'Maximum number of rows to display' -r
complete -c memray-summary -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray-summary -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray-summary -l by-process -d 'With a capture set: one section per process (in order of start) instead of all of them together'
complete -c memray-summary -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray-summary -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray-summary -s h -l help -d 'Print help'
complete -c memray-summary -s V -l version -d 'Print version'
