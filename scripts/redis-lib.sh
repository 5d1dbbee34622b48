# redis-lib.sh — what redis-test-server.sh and redis-cluster-test-server.sh
# share. Sourced, not run: the sourcing script defines die and $dir first.

# install puts redis-server (and redis-cli) on the PATH, with apt-get (as
# root or through sudo) if they are missing, logging to $dir/apt.log.
install() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
	local sudo=
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "redis-server is missing and installing it needs root"
		sudo="sudo -n"
	fi
	{
		$sudo apt-get update &&
			$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
	} >>"$dir/apt.log" 2>&1 </dev/null || die "apt-get install redis-server failed, see $dir/apt.log"
	command -v redis-server >/dev/null || die "redis-server still not on the PATH after installing it"
}

# alive reports whether pid $1 is a live redis-server (not a recycled pid,
# not a zombie).
alive() {
	local stat comm
	read -r stat comm < <(ps -o stat=,comm= -p "$1" 2>/dev/null) || return 1
	[[ $stat != Z* && $comm == redis-server* ]]
}
