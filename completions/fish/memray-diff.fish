complete -c memray-diff -l temporary-allocation-threshold -d 'Compare temporary allocations: those freed before more than N other allocations' -r
complete -c memray-diff -l match -d 'How locations of the two captures are matched' -r -f -a "file\t'Function and file (code that moved within its file still matches)'
line\t'Function, file and line'
function\t'Function name only'"
complete -c memray-diff -s n -l top -d 'How many locations to list by growth, and by shrinkage' -r
complete -c memray-diff -l format -d 'text: the terminal report; html: a differential flame graph (needs -o)' -r -f -a "text\t''
html\t''"
complete -c memray-diff -l fail-if-peak-grows -d 'Fail (exit status 1) if the peak memory grew by more than PCT% or BYTES' -r
complete -c memray-diff -l fail-if-leaks-grow -d 'Fail if the leaked bytes grew by more than PCT% or BYTES' -r
complete -c memray-diff -l fail-if-location-grows -d 'Fail if any location\'s compared bytes grew by more than PCT% or BYTES' -r
complete -c memray-diff -s o -l output -d 'Write the JSON document (or the HTML page) to this file' -r -F
complete -c memray-diff -l leaks -d 'Compare the leaks (memory still allocated at the end) instead of the peak'
complete -c memray-diff -l temporary-allocations -d 'Equivalent to --temporary-allocation-threshold=1'
complete -c memray-diff -l allocated -d 'Compare everything allocated (bytes and allocation counts), freed or not'
complete -c memray-diff -l json -d 'Write the JSON document (to stdout, or to -o FILE)'
complete -c memray-diff -s f -l force -d 'If the output file already exists, overwrite it'
complete -c memray-diff -s h -l help -d 'Print help (see more with \'--help\')'
complete -c memray-diff -s V -l version -d 'Print version'
