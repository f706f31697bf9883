# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_memray_capture_global_optspecs
    string join \n h/help V/version
end

function __fish_memray_capture_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_memray_capture_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_memray_capture_using_subcommand
    set -l cmd (__fish_memray_capture_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c memray-capture -n "__fish_memray_capture_needs_command" -s h -l help -d 'Print help'
complete -c memray-capture -n "__fish_memray_capture_needs_command" -s V -l version -d 'Print version'
complete -c memray-capture -n "__fish_memray_capture_needs_command" -f -a "run" -d 'Run the specified application and track memory usage'
complete -c memray-capture -n "__fish_memray_capture_needs_command" -f -a "attach" -d 'Begin tracking allocations in an already started process'
complete -c memray-capture -n "__fish_memray_capture_needs_command" -f -a "detach" -d 'End the tracking started by a previous ``memray attach`` call'
complete -c memray-capture -n "__fish_memray_capture_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s p -l live-port -d 'Port to use when starting live tracking (default: random free port)' -r
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l sample-every -d 'Record a sample of the allocations instead of every one: on average one allocated byte in BYTES (byte-based Poisson sampling; suffixes K, M, G are powers of 1024; 512K is a good start). Reports scale the sampled bytes into estimates and say so' -r
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l sample-seed -d 'Seed for --sample-every\'s random choices, so that a run can be repeated exactly' -r
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s o -l output -d 'Output file name (default: <process_name>.<pid>.bin)' -r -F
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s q -l quiet -d 'Don\'t show any tracking-specific output while running'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l native -d 'Track native (C/C++) stack frames as well'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l trace-python-allocators -d 'Record allocations made by the pymalloc allocator'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l follow-fork -d 'Record allocations in child processes forked from the tracked script'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l follow-children -d 'Record allocations in every Python process started below the tracked script (fork, multiprocessing\'s spawn and forkserver, subprocess and exec of a Python), each into OUTPUT.<pid>'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l aggregate -d 'Write aggregated stats to the output file instead of all allocations'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l live -d 'Start a live tracking session and immediately connect a live server'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l live-remote -d 'Start a live tracking session and wait until a client connects'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l no-compress -d 'Do not compress the capture'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -l compress-on-exit -d 'Compress the capture (the default)'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s c -d 'Program passed in as string'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s m -d 'Run library module as a script (terminates option list)'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand run" -s h -l help -d 'Print help'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -s o -l output -d 'Capture allocations into the given file instead of starting a live tracking session' -r -F
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l method -d 'Method to use for injecting code into the process to track' -r -f -a "auto\t''
gdb\t''
lldb\t''"
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l duration -d 'Duration to track for (in seconds) before detaching' -r
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l sample-every -d 'Record a sample of the allocations instead of every one: on average one allocated byte in BYTES (byte-based Poisson sampling; suffixes K, M, G are powers of 1024; 512K is a good start). Reports scale the sampled bytes into estimates and say so' -r
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l sample-seed -d 'Seed for --sample-every\'s random choices, so that a run can be repeated exactly' -r
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l aggregate -d 'Write aggregated stats to the output file instead of all allocations'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l native -d 'Track native (C/C++) stack frames as well'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l follow-fork -d 'Record allocations in child processes forked from the tracked script'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l trace-python-allocators -d 'Record allocations made by the pymalloc allocator'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -l no-compress -d 'Do not compress the capture'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -s v -l verbose -d 'Print verbose debugging information'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand attach" -s h -l help -d 'Print help'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand detach" -l method -d 'Method to use for injecting code into the process to track' -r -f -a "auto\t''
gdb\t''
lldb\t''"
complete -c memray-capture -n "__fish_memray_capture_using_subcommand detach" -s v -l verbose -d 'Print verbose debugging information'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand detach" -s h -l help -d 'Print help'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand help; and not __fish_seen_subcommand_from run attach detach help" -f -a "run" -d 'Run the specified application and track memory usage'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand help; and not __fish_seen_subcommand_from run attach detach help" -f -a "attach" -d 'Begin tracking allocations in an already started process'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand help; and not __fish_seen_subcommand_from run attach detach help" -f -a "detach" -d 'End the tracking started by a previous ``memray attach`` call'
complete -c memray-capture -n "__fish_memray_capture_using_subcommand help; and not __fish_seen_subcommand_from run attach detach help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
