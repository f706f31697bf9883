complete -c memray-flamegraph -s o -l output -d 'Output file name' -r -F
complete -c memray-flamegraph -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray-flamegraph -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray-flamegraph -l format -d 'What to write: the interactive HTML page, or a static SVG flame graph (drawn by the inferno crate; its default name ends in .svg)' -r -f -a "html\t''
svg\t''"
complete -c memray-flamegraph -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray-flamegraph -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray-flamegraph -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray-flamegraph -s i -l inverted -d 'Show a graph of callers under callees (allocating functions at the top)'
complete -c memray-flamegraph -l split-threads -d 'Split the graph by thread, with a thread selector'
complete -c memray-flamegraph -l temporal -d 'Let the user pick a time range on the memory chart and show the peak (or, with --leaks, the leaks) inside it'
complete -c memray-flamegraph -l no-merge-threads -d 'Do not merge frames from different threads (same as --split-threads)'
complete -c memray-flamegraph -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray-flamegraph -s V -l version -d 'Print version'
