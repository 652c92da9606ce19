# SPDX-License-Identifier: GPL-2.0-only
# Generated from mydevctl's command definition (mydevctl/src/cli.rs)
# by `UPDATE_EXPECT=1 cargo test -p mydevctl --test completions`.
# Do not edit.

# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mydevctl_global_optspecs
    string join \n json d/device= h/help V/version
end

function __fish_mydevctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mydevctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mydevctl_using_subcommand
    set -l cmd (__fish_mydevctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mydevctl -n "__fish_mydevctl_needs_command" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_needs_command" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -s V -l version -d 'Print version'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "status" -d 'Show MYDEV_STATUS: capacity, bytes used and free, open files'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "stats" -d 'Show MYDEV_STATS: 64-bit counters, sleepers, hangup'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "clear" -d 'Discard the buffered data (MYDEV_CLEAR)'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "resize" -d 'Set the capacity (MYDEV_RESIZE), e.g. 64K'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "hangup" -d 'Hang the device up (MYDEV_HANGUP)'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "watch" -d 'Redraw /proc/mydevice and MYDEV_STATS, with rates'
complete -c mydevctl -n "__fish_mydevctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand status" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_using_subcommand status" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand stats" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_using_subcommand stats" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand clear" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_using_subcommand clear" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand clear" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand resize" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_using_subcommand resize" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand resize" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand hangup" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_using_subcommand hangup" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand hangup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand watch" -l interval -d 'Seconds between samples [default: 1]' -r -f
complete -c mydevctl -n "__fish_mydevctl_using_subcommand watch" -l count -d 'Stop after N samples' -r -f
complete -c mydevctl -n "__fish_mydevctl_using_subcommand watch" -s d -l device -d 'Use this node, not $MYDEVICE_DEVICE or /dev/mydevice' -r -F
complete -c mydevctl -n "__fish_mydevctl_using_subcommand watch" -l json -d 'Print JSON objects, one per line, instead of text'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "status" -d 'Show MYDEV_STATUS: capacity, bytes used and free, open files'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "stats" -d 'Show MYDEV_STATS: 64-bit counters, sleepers, hangup'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "clear" -d 'Discard the buffered data (MYDEV_CLEAR)'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "resize" -d 'Set the capacity (MYDEV_RESIZE), e.g. 64K'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "hangup" -d 'Hang the device up (MYDEV_HANGUP)'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "watch" -d 'Redraw /proc/mydevice and MYDEV_STATS, with rates'
complete -c mydevctl -n "__fish_mydevctl_using_subcommand help; and not __fish_seen_subcommand_from status stats clear resize hangup watch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
