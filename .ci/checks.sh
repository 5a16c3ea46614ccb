# Sourced by the CI scripts: a check that counts itself, and an equality that says what differed.
passed=0
failed=0
check() { # check NAME COMMAND...: runs a check, counts it
    local name=$1
    shift
    if "$@"; then
        echo "ok    $name"
        passed=$((passed + 1))
    else
        echo "FAIL  $name"
        failed=$((failed + 1))
    fi
}
equal() { # equal WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then return 0; fi
    echo "      $1: expected $2, got $3"
    return 1
}
