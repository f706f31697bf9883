# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_memray_global_optspecs
    string join \n V/version h/help
end

function __fish_memray_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_memray_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_memray_using_subcommand
    set -l cmd (__fish_memray_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c memray -n "__fish_memray_needs_command" -s V -l version -d 'Print the version'
complete -c memray -n "__fish_memray_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_needs_command" -a "run" -d 'Run the specified application and track memory usage'
complete -c memray -n "__fish_memray_needs_command" -a "attach" -d 'Begin tracking allocations in an already started process'
complete -c memray -n "__fish_memray_needs_command" -a "detach" -d 'End the tracking started by a previous ``memray attach`` call'
complete -c memray -n "__fish_memray_needs_command" -a "diff" -d 'Compare two captures: what grew, what shrank, and by how much'
complete -c memray -n "__fish_memray_needs_command" -a "flamegraph" -d 'Generate an HTML flame graph for peak memory usage'
complete -c memray -n "__fish_memray_needs_command" -a "live" -d 'Remotely monitor allocations in a text-based interface'
complete -c memray -n "__fish_memray_needs_command" -a "parse" -d 'Debug a results file by parsing and printing each record in it'
complete -c memray -n "__fish_memray_needs_command" -a "stats" -d 'Generate high level stats of the memory usage in the terminal'
complete -c memray -n "__fish_memray_needs_command" -a "summary" -d 'Generate a terminal-based summary report of the functions that allocate most memory'
complete -c memray -n "__fish_memray_needs_command" -a "table" -d 'Generate an HTML table with all records in the peak memory usage'
complete -c memray -n "__fish_memray_needs_command" -a "transform" -d 'Generate reports files in different formats'
complete -c memray -n "__fish_memray_needs_command" -a "tree" -d 'Generate a tree view in the terminal for peak memory usage'
complete -c memray -n "__fish_memray_using_subcommand run" -s p -l live-port -d 'Port to use when starting live tracking (default: random free port)' -r
complete -c memray -n "__fish_memray_using_subcommand run" -l sample-every -d 'Record a sample of the allocations instead of every one: on average one allocated byte in BYTES (byte-based Poisson sampling; suffixes K, M, G are powers of 1024; 512K is a good start). Reports scale the sampled bytes into estimates and say so' -r
complete -c memray -n "__fish_memray_using_subcommand run" -l sample-seed -d 'Seed for --sample-every\'s random choices, so that a run can be repeated exactly' -r
complete -c memray -n "__fish_memray_using_subcommand run" -s o -l output -d 'Output file name (default: <process_name>.<pid>.bin)' -r -F
complete -c memray -n "__fish_memray_using_subcommand run" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand run" -s q -l quiet -d 'Don\'t show any tracking-specific output while running'
complete -c memray -n "__fish_memray_using_subcommand run" -l native -d 'Track native (C/C++) stack frames as well'
complete -c memray -n "__fish_memray_using_subcommand run" -l trace-python-allocators -d 'Record allocations made by the pymalloc allocator'
complete -c memray -n "__fish_memray_using_subcommand run" -l follow-fork -d 'Record allocations in child processes forked from the tracked script'
complete -c memray -n "__fish_memray_using_subcommand run" -l follow-children -d 'Record allocations in every Python process started below the tracked script (fork, multiprocessing\'s spawn and forkserver, subprocess and exec of a Python), each into OUTPUT.<pid>'
complete -c memray -n "__fish_memray_using_subcommand run" -l aggregate -d 'Write aggregated stats to the output file instead of all allocations'
complete -c memray -n "__fish_memray_using_subcommand run" -l live -d 'Start a live tracking session and immediately connect a live server'
complete -c memray -n "__fish_memray_using_subcommand run" -l live-remote -d 'Start a live tracking session and wait until a client connects'
complete -c memray -n "__fish_memray_using_subcommand run" -l no-compress -d 'Do not compress the capture'
complete -c memray -n "__fish_memray_using_subcommand run" -l compress-on-exit -d 'Compress the capture (the default)'
complete -c memray -n "__fish_memray_using_subcommand run" -s c -d 'Program passed in as string'
complete -c memray -n "__fish_memray_using_subcommand run" -s m -d 'Run library module as a script (terminates option list)'
complete -c memray -n "__fish_memray_using_subcommand run" -s h -l help -d 'Print help'
complete -c memray -n "__fish_memray_using_subcommand attach" -s o -l output -d 'Capture allocations into the given file instead of starting a live tracking session' -r -F
complete -c memray -n "__fish_memray_using_subcommand attach" -l method -d 'Method to use for injecting code into the process to track' -r -f -a "auto\t''
gdb\t''
lldb\t''"
complete -c memray -n "__fish_memray_using_subcommand attach" -l duration -d 'Duration to track for (in seconds) before detaching' -r
complete -c memray -n "__fish_memray_using_subcommand attach" -l sample-every -d 'Record a sample of the allocations instead of every one: on average one allocated byte in BYTES (byte-based Poisson sampling; suffixes K, M, G are powers of 1024; 512K is a good start). Reports scale the sampled bytes into estimates and say so' -r
complete -c memray -n "__fish_memray_using_subcommand attach" -l sample-seed -d 'Seed for --sample-every\'s random choices, so that a run can be repeated exactly' -r
complete -c memray -n "__fish_memray_using_subcommand attach" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand attach" -l aggregate -d 'Write aggregated stats to the output file instead of all allocations'
complete -c memray -n "__fish_memray_using_subcommand attach" -l native -d 'Track native (C/C++) stack frames as well'
complete -c memray -n "__fish_memray_using_subcommand attach" -l follow-fork -d 'Record allocations in child processes forked from the tracked script'
complete -c memray -n "__fish_memray_using_subcommand attach" -l trace-python-allocators -d 'Record allocations made by the pymalloc allocator'
complete -c memray -n "__fish_memray_using_subcommand attach" -l no-compress -d 'Do not compress the capture'
complete -c memray -n "__fish_memray_using_subcommand attach" -s v -l verbose -d 'Print verbose debugging information'
complete -c memray -n "__fish_memray_using_subcommand attach" -s h -l help -d 'Print help'
complete -c memray -n "__fish_memray_using_subcommand detach" -l method -d 'Method to use for injecting code into the process to track' -r -f -a "auto\t''
gdb\t''
lldb\t''"
complete -c memray -n "__fish_memray_using_subcommand detach" -s v -l verbose -d 'Print verbose debugging information'
complete -c memray -n "__fish_memray_using_subcommand detach" -s h -l help -d 'Print help'
complete -c memray -n "__fish_memray_using_subcommand diff" -l temporary-allocation-threshold -d 'Compare temporary allocations: those freed before more than N other allocations' -r
complete -c memray -n "__fish_memray_using_subcommand diff" -l match -d 'How locations of the two captures are matched' -r -f -a "file\t'Function and file (code that moved within its file still matches)'
line\t'Function, file and line'
function\t'Function name only'"
complete -c memray -n "__fish_memray_using_subcommand diff" -s n -l top -d 'How many locations to list by growth, and by shrinkage' -r
complete -c memray -n "__fish_memray_using_subcommand diff" -l format -d 'text: the terminal report; html: a differential flame graph (needs -o)' -r -f -a "text\t''
html\t''"
complete -c memray -n "__fish_memray_using_subcommand diff" -l fail-if-peak-grows -d 'Fail (exit status 1) if the peak memory grew by more than PCT% or BYTES' -r
complete -c memray -n "__fish_memray_using_subcommand diff" -l fail-if-leaks-grow -d 'Fail if the leaked bytes grew by more than PCT% or BYTES' -r
complete -c memray -n "__fish_memray_using_subcommand diff" -l fail-if-location-grows -d 'Fail if any location\'s compared bytes grew by more than PCT% or BYTES' -r
complete -c memray -n "__fish_memray_using_subcommand diff" -s o -l output -d 'Write the JSON document (or the HTML page) to this file' -r -F
complete -c memray -n "__fish_memray_using_subcommand diff" -l leaks -d 'Compare the leaks (memory still allocated at the end) instead of the peak'
complete -c memray -n "__fish_memray_using_subcommand diff" -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray -n "__fish_memray_using_subcommand diff" -l allocated -d 'Compare everything allocated (bytes and allocation counts), freed or not'
complete -c memray -n "__fish_memray_using_subcommand diff" -l json -d 'Write the JSON document (to stdout, or to -o FILE)'
complete -c memray -n "__fish_memray_using_subcommand diff" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -s o -l output -d 'Output file name' -r -F
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l format -d 'What to write: the interactive HTML page, or a static SVG flame graph (drawn by the inferno crate; its default name ends in .svg)' -r -f -a "html\t''
svg\t''"
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -s i -l inverted -d 'Show a graph of callers under callees (allocating functions at the top)'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l split-threads -d 'Split the graph by thread, with a thread selector'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l temporal -d 'Let the user pick a time range on the memory chart and show the peak (or, with --leaks, the leaks) inside it'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -l no-merge-threads -d 'Do not merge frames from different threads (same as --split-threads)'
complete -c memray -n "__fish_memray_using_subcommand flamegraph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_using_subcommand live" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_using_subcommand parse" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_using_subcommand stats" -s n -l num-largest -d 'Displays the top \'n\' largest allocating functions' -r
complete -c memray -n "__fish_memray_using_subcommand stats" -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray -n "__fish_memray_using_subcommand stats" -s o -l output -d 'Output file name for JSON output' -r -F
complete -c memray -n "__fish_memray_using_subcommand stats" -l json -d 'Exports stats as JSON'
complete -c memray -n "__fish_memray_using_subcommand stats" -l by-process -d 'With a capture set: one section per process (in order of start) instead of all of them together'
complete -c memray -n "__fish_memray_using_subcommand stats" -s f -l force -d 'If the JSON output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_using_subcommand summary" -s s -l sort-column -d 'Column number to sort on (1: total memory, 2: total %, 3: own memory, 4: own %, 5: allocation count)' -r
complete -c memray -n "__fish_memray_using_subcommand summary" -s r -l max-rows -d 'Maximum number of rows to display' -r
complete -c memray -n "__fish_memray_using_subcommand summary" -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray -n "__fish_memray_using_subcommand summary" -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray -n "__fish_memray_using_subcommand summary" -l by-process -d 'With a capture set: one section per process (in order of start) instead of all of them together'
complete -c memray -n "__fish_memray_using_subcommand summary" -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray -n "__fish_memray_using_subcommand summary" -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray -n "__fish_memray_using_subcommand summary" -s h -l help -d 'Print help'
complete -c memray -n "__fish_memray_using_subcommand table" -s o -l output -d 'Output file name' -r -F
complete -c memray -n "__fish_memray_using_subcommand table" -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray -n "__fish_memray_using_subcommand table" -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray -n "__fish_memray_using_subcommand table" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand table" -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray -n "__fish_memray_using_subcommand table" -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray -n "__fish_memray_using_subcommand table" -l split-threads -d 'One row per thread instead of merging threads'
complete -c memray -n "__fish_memray_using_subcommand table" -s h -l help -d 'Print help'
complete -c memray -n "__fish_memray_using_subcommand transform" -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray -n "__fish_memray_using_subcommand transform" -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray -n "__fish_memray_using_subcommand transform" -s o -l output -d 'Output file name (- for standard output)' -r -F
complete -c memray -n "__fish_memray_using_subcommand transform" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray -n "__fish_memray_using_subcommand transform" -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray -n "__fish_memray_using_subcommand transform" -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray -n "__fish_memray_using_subcommand transform" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray -n "__fish_memray_using_subcommand tree" -s b -l biggest-allocs -d 'Show the N biggest allocation paths (the rest are folded into one line)' -r
complete -c memray -n "__fish_memray_using_subcommand tree" -l temporary-allocation-threshold -d 'Report temporary allocations, as opposed to leaked allocations or high watermark allocations. An allocation is considered temporary if at most N other allocations occur before it is deallocated. With N=0, an allocation is temporary only if it is immediately deallocated before any other allocation occurs' -r
complete -c memray -n "__fish_memray_using_subcommand tree" -l pid -d 'With a capture set (a directory of captures, one per process): report on process PID only' -r
complete -c memray -n "__fish_memray_using_subcommand tree" -l by-process -d 'With a capture set: one section per process (in order of start) instead of all of them together'
complete -c memray -n "__fish_memray_using_subcommand tree" -l leaks -d 'Show memory leaks, instead of peak memory usage'
complete -c memray -n "__fish_memray_using_subcommand tree" -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray -n "__fish_memray_using_subcommand tree" -s h -l help -d 'Print help'
