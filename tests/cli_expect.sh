#!/bin/sh
# cli_expect.sh EXIT_CODE REGEX COMMAND...: runs COMMAND and passes when it exits with EXIT_CODE
# and its combined stdout+stderr matches the extended regex REGEX.
want_code=$1
regex=$2
shift 2
out=$("$@" 2>&1)
code=$?
if [ "$code" -ne "$want_code" ]; then
    printf 'exit code %s, expected %s; output:\n%s\n' "$code" "$want_code" "$out"
    exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
    printf 'output does not match /%s/:\n%s\n' "$regex" "$out"
    exit 1
fi
printf '%s\n' "$out" | tail -n 3
