#!/usr/bin/env bash
# Stop the single-node SLURM cluster that .ci/slurm-up.sh started (slurmd, slurmctld, and munged
# when slurm-up.sh started it), by their pid files only. Idempotent.
#   CALORECO_SLURM_PURGE=1  also removes the scratch folder and the /etc/slurm/slurm.conf symlink
set -euo pipefail

DIR=${CALORECO_SLURM_DIR:-/tmp/caloreco-slurm}
CONF=$DIR/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf

stop() { # name pidfile
	local pid
	[[ -f $2 ]] || return 0
	pid=$(cat "$2")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 40); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
		if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
		echo "slurm-down: stopped $1 ($pid)"
	fi
	rm -f "$2"
}

# cancel what is still queued, so that nothing lingers in the saved state
if [[ -f $DIR/run/slurmctld.pid ]] && command -v scancel >/dev/null; then
	scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi
stop slurmd "$DIR/run/slurmd.pid"
stop slurmctld "$DIR/run/slurmctld.pid"
if [[ -f $DIR/run/munged.started ]]; then
	stop munged /run/munge/munged.pid
	rm -f "$DIR/run/munged.started"
fi

if [[ ${CALORECO_SLURM_PURGE:-0} == 1 ]]; then
	if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then rm -f "$ETC_CONF"; fi
	rm -rf "$DIR"
	echo "slurm-down: removed $DIR"
fi
