complete -c memray-tree -s b -l biggest-allocs -d 'Show the N biggest allocation paths (the rest are folded into one line)' -r
complete -c memray-tree -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray-tree -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray-tree -l by-process -d 'With a capture set: one section per process (in order of start) instead of all of them together'
complete -c memray-tree -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray-tree -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray-tree -s h -l help -d 'Print help'
complete -c memray-tree -s V -l version -d 'Print version'
