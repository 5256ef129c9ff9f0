#!/bin/bash
# test_readme.sh SOURCE_DIR - run the commands README.md shows, in order,
# in a fresh copy of the tree (no build folders), as a new user would:
#   - the "Run it" line at the top (the first indented line starting with
#     ./deps.sh), in the background with `-l 127.0.0.1:0` appended;
#   - ```sh readme=run      blocks: run with bash -euo pipefail, must succeed;
#   - ```sh readme=server   blocks: one command, started in the background
#                           with `-l 127.0.0.1:0` appended (the previous
#                           server is stopped first);
#   - ```sh readme=client   blocks: each line a command, `localhost:8080`
#                           pointed at the running server, retried (15 s)
#                           until its output holds the text after `# =>`;
#   - ```sh readme=manual   blocks: shown, not run (root, systemd).
# An ```sh block without a readme= tag fails the test: every shell command
# the README shows is run or explicitly manual. HOME is a temporary folder,
# so "$HOME/plughost" installs stay inside it. Release suite only (label
# "install"): it builds the tree once more, as the run command does.
set -uo pipefail
SRC=$(cd "$1" && pwd) || exit 1
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=sh_server.sh
. "$HERE/sh_server.sh"
WORK=$(mktemp -d /tmp/plughost-readme.XXXXXX)
chmod 755 "$WORK"
trap 'sh_server_stop; rm -rf "$WORK"' EXIT
export HOME=$WORK/home
mkdir -p "$HOME" "$WORK/tree"
LISTEN="-l 127.0.0.1:0"

# A fresh copy of the tree: no build folders, no .git.
(cd "$SRC" && tar --exclude='./build*' --exclude='./.git' -cf - .) | (cd "$WORK/tree" && tar -xf -) ||
    sh_fail "copying the tree"
cd "$WORK/tree" || exit 1
README=$WORK/tree/README.md

# The run command of the first lines.
run_line=$(grep -m1 -E '^    \./deps\.sh' "$README") || sh_fail "README lost its run command"
run_line=${run_line#    }
echo "== run command: $run_line"
sh_server_start "$WORK/server-0.log" 600 "$run_line $LISTEN"
echo "   listening on 127.0.0.1:$SH_PORT"

nrun=0 nclient=0 nserver=0 nmanual=0
# run_block TAG FILE: run one extracted block.
run_block() {
    local tag=$1 file=$2
    case $tag in
    run)
        nrun=$((nrun + 1))
        echo "== run block $nrun:"; sed 's/^/   $ /' "$file"
        bash -euo pipefail "$file" >"$WORK/run-$nrun.log" 2>&1 ||
            { tail -40 "$WORK/run-$nrun.log"; sh_fail "readme=run block $nrun failed"; }
        ;;
    server)
        nserver=$((nserver + 1))
        local cmd
        cmd=$(grep -v '^[[:space:]]*$' "$file")
        [ "$(wc -l <<<"$cmd")" -eq 1 ] || sh_fail "a readme=server block must hold one command"
        echo "== server $nserver: $cmd $LISTEN"
        sh_server_stop
        sh_server_start "$WORK/server-$nserver.log" 30 "$cmd $LISTEN"
        ;;
    client)
        local line cmd expected
        while IFS= read -r line; do
            [ -n "${line// /}" ] || continue
            nclient=$((nclient + 1))
            cmd=${line%%#*}
            expected=""
            [[ $line == *"# => "* ]] && expected=${line#*# => }
            cmd=${cmd//localhost:8080/127.0.0.1:$SH_PORT}
            echo "== client: $cmd  (expect: ${expected:-exit 0})"
            sh_expect 15 "$expected" "$cmd"
        done <"$file"
        ;;
    manual)
        nmanual=$((nmanual + 1))
        ;;
    *) sh_fail "unknown tag readme=$tag" ;;
    esac
}

# Walk the fenced blocks of README.md in order.
in_block=0 tag="" n=0 block=""
while IFS= read -r line; do
    if [ $in_block -eq 0 ] && [[ $line =~ ^\`\`\`(.*)$ ]]; then
        info=${BASH_REMATCH[1]}
        in_block=1
        n=$((n + 1))
        block=$WORK/block-$n
        : >"$block"
        tag=""
        if [[ $info =~ ^(sh|bash)([[:space:]]|$) ]]; then
            [[ $info =~ readme=([a-z]+) ]] && tag=${BASH_REMATCH[1]}
            [ -n "$tag" ] || sh_fail "README block $n (\`\`\`$info) is a shell block without readme=run|server|client|manual"
        fi
        continue
    fi
    if [ $in_block -eq 1 ]; then
        if [[ $line == '```' ]]; then
            in_block=0
            [ -n "$tag" ] && run_block "$tag" "$block"
            continue
        fi
        printf '%s\n' "$line" >>"$block"
    fi
done <"$README"
[ $in_block -eq 0 ] || sh_fail "README ends inside a fenced block"
# Guard against a parser that silently finds nothing.
[ $nrun -ge 8 ] && [ $nclient -ge 8 ] && [ $nserver -ge 1 ] ||
    sh_fail "ran too little of the README ($nrun run blocks, $nclient client lines, $nserver servers)"
echo "readme: all passed ($nrun run blocks, $nclient client lines, $nserver extra servers, $nmanual manual blocks shown only)"
