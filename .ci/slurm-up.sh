#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (Debian's slurm-wlm + munge), for the
# `slurm` tests and CI. Needs root. Idempotent: a cluster it started earlier is left running.
#
#   .ci/slurm-up.sh            install if missing, configure, start, wait until the node is idle
#   .ci/slurm-down.sh          stop it again
#
# Environment:
#   CALORECO_SLURM_DIR   scratch folder for slurm.conf, state, spool, logs, pids
#                        (default /tmp/caloreco-slurm)
#   CALORECO_SLURM_CPUS  CPUs the node advertises (default: nproc). More than nproc
#                        oversubscribes the cores (slurmd is told to trust the config).
#   CALORECO_SLURM_MEM   RealMemory in MB (default: 90 % of MemTotal)
#   CALORECO_SLURM_GPUS  GPUs the node advertises as GRES (default 2). They are bookkeeping
#                        only (no device file): jobs asking `--gpus=1` are scheduled, as the
#                        profile's training rules do, and still compute on the CPU.
#
# Clients (sinfo, sbatch, squeue, and so the Snakemake SLURM executor) find the cluster through
# /etc/slurm/slurm.conf, which becomes a symlink to the scratch slurm.conf. An existing
# /etc/slurm/slurm.conf that is not that symlink is never overwritten (the script stops instead).
set -Eeuo pipefail
# the daemons live in sbin, which a non-login root shell may not have on its PATH
PATH=$PATH:/usr/sbin:/sbin

DIR=${CALORECO_SLURM_DIR:-/tmp/caloreco-slurm}
CONF=$DIR/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf
APT_LOG=$DIR/log/apt.log
HOST=$(hostname -s)
t0=$SECONDS

die() {
	trap - ERR
	echo "slurm-up: ERROR: $*" >&2
	for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" /var/log/munge/munged.log; do
		if [[ -s $f ]]; then
			echo "--- tail $f" >&2
			tail -n 15 "$f" >&2
		fi
	done
	exit 1
}
# any other failing command stops the script with its line, never silently
trap 'die "line $LINENO: \`$BASH_COMMAND\` failed"' ERR

node_state() { sinfo --noheader --nodes="$HOST" --format=%T 2>/dev/null | head -n 1; }

missing_tools() {
	local t
	for t in slurmctld slurmd sinfo sbatch squeue scontrol munged munge unmunge; do
		command -v "$t" >/dev/null || echo "$t"
	done
}

# `apt-get <args>` with a few tries, for a flaky mirror or a dpkg lock held by a boot-time upgrade.
# Output goes to $APT_LOG (its tail is shown when all tries failed).
apt_retry() {
	local try what=$1
	for try in 1 2 3; do
		echo "+ apt-get $* (try $try)" >>"$APT_LOG"
		if apt-get -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 "$@" \
			>>"$APT_LOG" 2>&1 </dev/null; then
			return 0
		fi
		echo "slurm-up: apt-get $what failed (try $try of 3)" >&2
		if ((try < 3)); then sleep $((15 * try)); fi
	done
	echo "--- tail $APT_LOG" >&2
	tail -n 25 "$APT_LOG" >&2
	return 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, starts munged/slurmctld/slurmd)"
mkdir -p "$DIR"/{state,spool,log,run}

# 1. packages -----------------------------------------------------------------------------------
missing=$(missing_tools | xargs)
if [[ -n $missing ]]; then
	command -v apt-get >/dev/null || die "SLURM tools missing ($missing) and no apt-get to install them"
	echo "slurm-up: $missing not found: installing slurm-wlm and munge with apt-get (log $APT_LOG)"
	export DEBIAN_FRONTEND=noninteractive
	: >"$APT_LOG"
	# The packages' maintainer scripts would start munged/slurmctld/slurmd as system services
	# (slurm.conf missing, so they fail, and a failed start can abort the install): forbid service
	# starts during the install, unless the machine already has its own policy (containers do).
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# temporary, from caloreco .ci/slurm-up.sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		own_policy=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT # also when stopped mid-install
	fi
	ok=1
	apt_retry update || ok=0
	if ((ok)); then
		apt_retry install -y --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			slurm-wlm munge || ok=0
	fi
	if ((own_policy)); then
		rm -f "$policy"
		trap - EXIT
	fi
	((ok)) || die "could not install slurm-wlm and munge with apt-get (log $APT_LOG)"
	missing=$(missing_tools | xargs)
	[[ -z $missing ]] || die "installed slurm-wlm and munge, but still missing: $missing"
	echo "slurm-up: installed $(slurmctld -V) and munge in $((SECONDS - t0)) s"
else
	echo "slurm-up: $(slurmctld -V) and munge already installed"
fi
t_start=$SECONDS

# already running? ------------------------------------------------------------------------------
if [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]] && pgrep -F "$DIR/run/slurmctld.pid" >/dev/null 2>&1 &&
	pgrep -F "$DIR/run/slurmd.pid" >/dev/null 2>&1; then
	state=$(node_state || true)
	if [[ $state == idle || $state == mixed || $state == allocated ]]; then
		echo "slurm-up: already running, node $HOST is $state"
		exit 0
	fi
fi

if [[ -e $ETC_CONF || -L $ETC_CONF ]] && ! [[ -L $ETC_CONF && $(readlink "$ETC_CONF") == "$CONF" ]]; then
	die "$ETC_CONF exists and is not ours (a real SLURM site?); not touching it"
fi

# stop leftovers of an earlier start of ours (by their pid files only)
for d in slurmd slurmctld; do
	if [[ -f $DIR/run/$d.pid ]] && pgrep -F "$DIR/run/$d.pid" >/dev/null 2>&1; then
		kill "$(cat "$DIR/run/$d.pid")" 2>/dev/null || true
		sleep 1
	fi
done

# 2. munge --------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
	if command -v mungekey >/dev/null; then mungekey -c -f -k /etc/munge/munge.key; else
		dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
	fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
	runuser -u munge -- /usr/sbin/munged ||
		die "munged did not start"
	for _ in $(seq 20); do
		munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
		sleep 0.25
	done
	munge -n | unmunge >/dev/null 2>&1 || die "munge does not answer"
	touch "$DIR/run/munged.started" # slurm-down.sh stops only a munged started here
fi

# 3. slurm.conf ---------------------------------------------------------------------------------
ncpu=$(nproc)
cpus=${CALORECO_SLURM_CPUS:-$ncpu}
mem_total=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
mem=${CALORECO_SLURM_MEM:-$((mem_total * 9 / 10))}
gpus=${CALORECO_SLURM_GPUS:-2}
gres_node=""
overrides=""
if ((cpus > ncpu)); then overrides="SlurmdParameters=config_overrides"; fi
: >"$DIR/gres.conf"
if ((gpus > 0)); then
	# slurmd drops file-less GPUs, so each gets a placeholder file (never opened with task/none)
	mkdir -p "$DIR/fakegpu"
	for ((i = 0; i < gpus; i++)); do
		: >"$DIR/fakegpu/gpu$i"
		echo "Name=gpu Type=fake File=$DIR/fakegpu/gpu$i" >>"$DIR/gres.conf"
	done
	gres_node="Gres=gpu:fake:$gpus"
fi
cat >"$CONF" <<CONF
# Written by .ci/slurm-up.sh: a single-node test cluster (no accounting).
ClusterName=caloreco
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
# keep finished jobs visible to squeue long enough for a status poll (no sacct here)
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
Waittime=0
$overrides
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $gres_node State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
mkdir -p "$(dirname "$ETC_CONF")"
ln -sfn "$CONF" "$ETC_CONF"

# 4. daemons ------------------------------------------------------------------------------------
# fresh logs per start, so that the tails shown on failure are this start's
for d in slurmctld slurmd; do
	if [[ -f $DIR/log/$d.log ]]; then mv -f "$DIR/log/$d.log" "$DIR/log/$d.log.1"; fi
done
# -c: start from a clean state (no jobs of an earlier run)
/usr/sbin/slurmctld -c -f "$CONF" || die "slurmctld did not start"
for _ in $(seq 40); do
	scontrol ping 2>/dev/null | grep -q UP && break
	sleep 0.25
done
scontrol ping 2>/dev/null | grep -q UP || die "slurmctld does not answer"
/usr/sbin/slurmd -c -f "$CONF" || die "slurmd did not start"

for _ in $(seq 60); do
	state=$(node_state || true)
	[[ $state == idle ]] && break
	if [[ $state == down || $state == drained || $state == draining ]]; then
		scontrol update nodename="$HOST" state=resume 2>/dev/null || true
	fi
	sleep 0.5
done
[[ $(node_state || true) == idle ]] ||
	die "node $HOST is '$(node_state || true)', not idle, after 30 s ($(scontrol show node "$HOST" 2>/dev/null | grep -o 'Reason=.*' || true))"
echo "slurm-up: node $HOST idle with $cpus CPUs, $mem MB, $gpus GPUs (GRES only), started in $((SECONDS - t_start)) s, $((SECONDS - t0)) s in all (conf $CONF)"
sinfo
