# plugins/exec
