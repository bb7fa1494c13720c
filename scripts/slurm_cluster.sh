#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests (Debian's slurmctld, slurmd, munge).
#
#   scripts/slurm_cluster.sh start DIR   # writes DIR/slurm.conf, starts munged, slurmctld, slurmd
#   scripts/slurm_cluster.sh stop DIR
#
# After `start`, `export SLURM_CONF=DIR/slurm.conf` points sbatch, squeue and scontrol at it.
# Runs as root (SlurmUser=root); state, spool, logs and pid files live under DIR.
set -euo pipefail
action=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm_cluster.sh start|stop DIR}")
host=$(hostname -s)

start() {
    mkdir -p "$dir"/{state,spool,log}
    cat > "$dir/slurm.conf" <<CONF
ClusterName=runner-test
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
MaxArraySize=1001
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /etc/munge /var/run/munge /var/lib/munge /var/log/munge
        [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
        chown -R munge:munge /etc/munge /var/run/munge /var/lib/munge /var/log/munge
        chmod 0400 /etc/munge/munge.key
        runuser -u munge -- munged
    fi
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 60); do  # wait until the node takes jobs
        if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            echo "SLURM is up: export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 1
    done
    echo "SLURM did not come up; logs in $dir/log" >&2
    return 1
}

stop() {
    for daemon in slurmd slurmctld; do
        [ -f "$dir/$daemon.pid" ] && kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
    done
}

"$action"
