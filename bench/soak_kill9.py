#!/usr/bin/python3
"""Randomised kill -9 soak of the real trainyard-server (issue 9; not in CI).

Starts build/server/trainyard-server on a free loopback port with a fresh data
dir, uploads small synthetic CSV datasets, submits jobs with periodic
checkpoints (mixing in pause, resume and cancel requests), keeps one watcher
streaming each job's events, and SIGKILLs the server at random moments: after
a random delay, or right after an acknowledged upload, submit or
CheckpointSaved event. After each restart it checks what a user would notice:

  acked       every acknowledged SubmitJob's job exists
  events      every event a watcher received is still in the log, same seq and
              content; seqs run 1, 2, 3, ... and the first is the QUEUED change;
              a reconnecting watcher sees no gap and no duplicate
  checkpoints every listed checkpoint downloads and hashes to its id; a job's
              latest_checkpoint_id names one of its listed checkpoints
  orphans     no blob file without a row, and no temp file, that is older than
              this start (the start-up sweep must have removed them)
  owner       a second server on the same data dir exits non-zero naming it
Then, with no more kills, every job must reach a terminal state without
sitting RUNNING with no progress, and each job that SUCCEEDED must end with
parameters, layer state, optimiser state, step and RNG bit-identical to an
uninterrupted reference run of the same request on a fresh server.

    bench/soak_kill9.py --kills 50 --seed 1          # build/ of this checkout
    bench/soak_kill9.py --minutes 60 --build-dir /path/to/build --keep

It builds nothing. Every check prints a line; the last line is the summary
(`soak: kills=... violations=0 seed=S ...`). Exit status 0 when nothing was
violated, 1 otherwise (each violation is printed with its details), 2 on a
usage or set-up error. Replay a failing run with the --seed it printed (the
kill moments are drawn from the seed; the server's own timing still varies).
Needs Debian's python3-grpcio, python3-protobuf, protobuf-compiler and
protobuf-compiler-grpc (the stubs are generated into the work dir).
"""

import argparse
import hashlib
import importlib.util
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK_BYTES = 1 << 20
CHECKPOINT_HEADER_BYTES = 56  # docs/checkpoint-format.md
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

# Job shapes, small enough that a job trains for a second or two on one core
# and large enough that kills land inside epochs and checkpoint writes. Dropout
# and batch norm put the RNG and layer state into the bit-identity check.
MODELS = [
    {"input_dim": 16, "layers": [{"dense": {"units": 192}}, {"activation": {"kind": "RELU"}},
                                 {"dense": {"units": 192}}, {"activation": {"kind": "TANH"}},
                                 {"dense": {"units": 4}}]},
    {"input_dim": 16, "layers": [{"dense": {"units": 384}}, {"batch_norm": {}},
                                 {"activation": {"kind": "RELU"}}, {"dropout": {"rate": 0.2}},
                                 {"dense": {"units": 4}}]},
]
OPTIMIZERS = [{"adam": {}, "learning_rate": 0.003},
              {"sgd": {"momentum": 0.9, "nesterov": True}, "learning_rate": 0.05}]
ROWS = 3072  # per dataset; 96 steps per epoch at batch 32
SEEDS = [1, 2, 3]  # few, so the reference runs can be shared between jobs


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", default=os.path.join(REPO_ROOT, "build"),
                   help="a build of this checkout (default: build/); nothing is built")
    p.add_argument("--kills", type=int, default=None, help="stop after this many kills")
    p.add_argument("--minutes", type=float, default=None,
                   help="stop killing after this many minutes (with --kills: whichever first)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    p.add_argument("--work-dir", default=None,
                   help="where the data dirs, logs and stubs go (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work dir at the end")
    p.add_argument("--max-delay", type=float, default=2.5,
                   help="longest random delay before a kill, seconds")
    p.add_argument("--max-active-jobs", type=int, default=6,
                   help="submit no more while this many jobs are not terminal")
    p.add_argument("--drain-seconds", type=float, default=240,
                   help="after the last kill, how long all jobs have to end")
    p.add_argument("--stall-seconds", type=float, default=30,
                   help="a RUNNING job with no new event for this long is stuck")
    args = p.parse_args()
    if args.kills is None and args.minutes is None:
        args.kills = 50
    if (args.kills is not None and args.kills < 1) or (args.minutes is not None and args.minutes <= 0):
        p.error("--kills must be >= 1 and --minutes > 0")
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1_000_000
    return args


def load_stubs(work_dir):
    """The examples' stub generator (examples/python/client.py)."""
    spec = importlib.util.spec_from_file_location(
        "trainyard_example_client", os.path.join(REPO_ROOT, "examples", "python", "client.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = os.path.join(work_dir, "stubs")
    os.makedirs(out)
    return example.generate_stubs(os.path.join(REPO_ROOT, "proto"), out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_csv(rng, rows, features, classes):
    """Rows from a random linear teacher with noise: learnable, not trivial."""
    w = [[rng.gauss(0, 1) for _ in range(features)] for _ in range(classes)]
    lines = []
    for _ in range(rows):
        x = [rng.gauss(0, 1) for _ in range(features)]
        scores = [sum(a * b for a, b in zip(row, x)) + rng.gauss(0, 0.5) for row in w]
        lines.append(",".join(f"{v:.5f}" for v in x) + f",{scores.index(max(scores))}")
    return ("\n".join(lines) + "\n").encode()


def params_digest(ckpt_bytes, pb):
    """sha256 over what must be bit-identical after a resume: parameters, layer
    state, optimiser buffers and step count, data position, RNG state. (The
    file also holds wall-clock timings in its history, so the bytes differ.)"""
    payload = ckpt_bytes[CHECKPOINT_HEADER_BYTES:]
    c = pb.Checkpoint.FromString(payload)
    h = hashlib.sha256()
    h.update(struct.pack(f"<{len(c.params)}f", *c.params))
    h.update(struct.pack(f"<{len(c.layer_state)}f", *c.layer_state))
    for buf in c.optimizer_state:
        h.update(buf.name.encode() + b"\0")
        h.update(struct.pack(f"<{len(buf.values)}f", *buf.values))
    h.update(struct.pack("<qqiq", c.optimizer_steps, c.step, c.completed_epochs,
                         c.batches_in_epoch))
    h.update(struct.pack(f"<{len(c.rng_state)}Q", *c.rng_state))
    return h.hexdigest()


class Server:
    """One trainyard-server process on a fixed address and data dir."""

    def __init__(self, binary, addr, data_dir, log_path):
        self.binary, self.addr, self.data_dir, self.log_path = binary, addr, data_dir, log_path
        self.proc = None
        self.started_at = 0.0

    def args(self, addr=None):
        return [self.binary, "--listen", addr or self.addr, "--data-dir", self.data_dir,
                "--workers", "2", "--cores", "2", "--default-threads", "1",
                "--shutdown-grace-seconds", "5"]

    def start(self):
        # A file whose mtime is older than this predates the process.
        self.started_at = time.time()
        self.log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def listening(self):
        """True once this start has logged its server_listening line."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return b"server_listening" in f.read()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Soak:
    def __init__(self, args, grpc, json_format, pb, rpc, work_dir):
        self.args, self.grpc, self.jf, self.pb, self.rpc = args, grpc, json_format, pb, rpc
        self.work = work_dir
        self.rng = random.Random(args.seed)
        self.binary = os.path.join(args.build_dir, "server", "trainyard-server")
        self.addr = f"127.0.0.1:{free_port()}"
        self.server = Server(self.binary, self.addr, os.path.join(work_dir, "data"),
                             os.path.join(work_dir, "server.log"))
        opts = [("grpc.max_receive_message_length", 64 << 20),
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 500)]
        self.channel_options = opts
        self.channel = None
        self.stub = None
        self.reconnect()
        self.mu = threading.Lock()
        # All guarded by mu (watcher threads write them).
        self.jobs = {}          # job id -> {"request", "acked", "watcher"...}
        self.received = {}      # job id -> list of JobEvent the watcher got, in order
        self.watch_errors = []  # gap/duplicate reports from watchers
        self.datasets = {}      # dataset id -> csv bytes
        self.kill_trigger = threading.Event()
        self.trigger_on_checkpoint = False
        self.stop_watchers = threading.Event()
        self.watchers = []
        self.verified_checkpoints = set()
        self.last_progress = {}  # job id -> (last_event_seq, time it last changed)
        self.violations = []
        self.counts = dict(kills=0, restarts=0, events_checked=0, checkpoints_verified=0,
                           owner_refusals=0, orphan_checks=0, pauses=0, resumes=0, cancels=0,
                           uploads=0)
        self.states = {}           # final job states -> count
        self.bit = [0, 0]          # bit-identical, compared
        self.interrupted = [0, 0]  # of those compared: resumed after a kill, after a pause
        self.t0 = time.time()

    # ------------------------------------------------------------- helpers
    def say(self, msg):
        print(f"[{time.time() - self.t0:7.1f}s] {msg}", flush=True)

    def violation(self, what):
        self.violations.append(what)
        self.say(f"VIOLATION: {what}")

    def call(self, method, request, timeout=10, stub=None):
        return getattr(stub or self.stub, method)(request, timeout=timeout)

    def reconnect(self):
        """A new channel for a restarted server: the old one would wait out
        gRPC's reconnect backoff. Watchers pick up self.stub on their retry."""
        old = self.channel
        self.channel = self.grpc.insecure_channel(self.addr, options=self.channel_options)
        self.stub = self.rpc.TrainingServiceStub(self.channel)
        if old is not None:
            old.close()

    def list_jobs(self, stub=None):
        jobs, token = [], ""
        while True:
            r = self.call("ListJobs", self.pb.ListJobsRequest(page_size=100, page_token=token),
                          stub=stub)
            jobs.extend(r.jobs)
            token = r.next_page_token
            if not token:
                return jobs

    def wait_ready(self, server=None, stub=None, timeout=60):
        server = server or self.server
        deadline = time.time() + timeout
        while time.time() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"server exited {server.proc.returncode} at start:\n"
                                   f"{server.log_tail()}")
            if not server.listening():
                time.sleep(0.02)
                continue
            try:
                self.call("GetServerInfo", self.pb.GetServerInfoRequest(), timeout=1, stub=stub)
                return
            except self.grpc.RpcError:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout} s:\n{server.log_tail()}")

    def upload(self, csv, stub=None, pause=0.0):
        """Uploads csv; `pause` seconds between chunks keeps the stream open."""
        pb = self.pb
        header = pb.DatasetHeader(name=f"soak-{len(self.datasets)}", format=pb.CSV,
                                  csv_options=pb.CsvOptions(label_columns=["16"]),
                                  total_size_bytes=len(csv))

        def requests():
            yield pb.UploadDatasetRequest(header=header)
            step = CHUNK_BYTES if pause == 0 else 16 << 10
            for i in range(0, len(csv), step):
                yield pb.UploadDatasetRequest(chunk=csv[i:i + step])
                time.sleep(pause)
            yield pb.UploadDatasetRequest(
                trailer=pb.UploadTrailer(sha256=hashlib.sha256(csv).hexdigest()))

        return (stub or self.stub).UploadDataset(requests(), timeout=60)

    def make_request(self, dataset_id):
        pb, jf, rng = self.pb, self.jf, self.rng
        training = {"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"},
                    "optimizer": rng.choice(OPTIMIZERS), "batch_size": 32,
                    "epochs": rng.choice([10, 16, 24]), "seed": rng.choice(SEEDS),
                    "checkpoint_every_epochs": rng.choice([1, 2, 4]),
                    "validation_fraction": rng.choice([0, 0.1]), "log_every_steps": 8}
        return pb.SubmitJobRequest(
            request_id=str(uuid.UUID(int=rng.getrandbits(128))), name="soak",
            model=jf.ParseDict(rng.choice(MODELS), pb.ModelSpec()),
            training=jf.ParseDict(training, pb.TrainingConfig()), dataset_id=dataset_id)

    # ------------------------------------------------------------ watchers
    def start_watcher(self, job_id):
        t = threading.Thread(target=self.watch, args=(job_id,), daemon=True)
        t.start()
        self.watchers.append(t)

    def watch(self, job_id):
        """Follows job_id's events across kills, reconnecting after the last seq seen."""
        pb, grpc = self.pb, self.grpc
        while not self.stop_watchers.is_set():
            with self.mu:
                got = self.received[job_id]
                last = got[-1].seq if got else 0
            try:
                stream = self.stub.WatchJob(pb.WatchJobRequest(job_id=job_id, after_seq=last))
                for ev in stream:
                    if ev.WhichOneof("kind") == "heartbeat":
                        continue
                    with self.mu:
                        if ev.seq != last + 1:
                            self.watch_errors.append(
                                f"job {job_id}: watcher after seq {last} got seq {ev.seq}")
                        got.append(ev)
                        trigger = self.trigger_on_checkpoint
                    last = ev.seq
                    if ev.HasField("checkpoint_saved") and trigger:
                        self.kill_trigger.set()
                    if self.stop_watchers.is_set():
                        stream.cancel()
                        return
                return  # the stream ends after the terminal state
            except grpc.RpcError:
                time.sleep(0.1)

    # ------------------------------------------------------------ workload
    def active_jobs(self):
        with self.mu:
            ids = list(self.jobs)
        active = []
        for job_id in ids:
            try:
                job = self.call("GetJob", self.pb.GetJobRequest(job_id=job_id), timeout=2)
            except self.grpc.RpcError:
                continue
            if self.pb.JobState.Name(job.state) not in TERMINAL:
                active.append(job)
        return active

    def act(self, mode):
        """One burst of client work; sets kill_trigger when `mode` asks to kill
        right after an acknowledged write of that kind."""
        pb, rng, grpc = self.pb, self.rng, self.grpc
        try:
            if mode == "during_upload":
                # Killed mid-stream: its temp file must not outlive the restart.
                csv = synthetic_csv(rng, ROWS, 16, 4)
                threading.Thread(target=self.upload_ignoring_errors, args=(csv,),
                                 daemon=True).start()
                self.counts["uploads"] += 1
                return
            if mode == "after_upload" or rng.random() < 0.08:
                csv = synthetic_csv(rng, ROWS, 16, 4)
                ds = self.upload(csv)
                self.datasets[ds.id] = csv
                self.counts["uploads"] += 1
                self.say(f"uploaded dataset {ds.id} ({len(csv)} bytes)")
                if mode == "after_upload":
                    self.kill_trigger.set()
                    return
            active = self.active_jobs()
            if len(active) < self.args.max_active_jobs:
                for _ in range(rng.choice([1, 1, 2])):
                    req = self.make_request(rng.choice(sorted(self.datasets)))
                    job = self.call("SubmitJob", req)
                    with self.mu:
                        self.jobs[job.id] = {"request": req, "acked": True}
                        self.received.setdefault(job.id, [])
                    self.start_watcher(job.id)
                    self.say(f"submitted {job.id} (seed {req.training.seed}, "
                             f"{req.training.epochs} epochs, ckpt every "
                             f"{req.training.checkpoint_every_epochs})")
                    if mode == "after_submit":
                        self.kill_trigger.set()
                        return
        except grpc.RpcError as e:
            self.rpc_error(e)

    def control(self):
        """Pause, resume or cancel some of the jobs that have not ended."""
        pb, rng, grpc = self.pb, self.rng, self.grpc
        try:
            for job in self.active_jobs():
                state = pb.JobState.Name(job.state)
                r = rng.random()
                if state == "RUNNING" and r < 0.25:
                    self.call("PauseJob", pb.PauseJobRequest(job_id=job.id))
                    self.counts["pauses"] += 1
                    self.say(f"pause {job.id}")
                elif state == "PAUSED" and r < 0.6:
                    self.call("ResumeJob", pb.ResumeJobRequest(job_id=job.id))
                    self.counts["resumes"] += 1
                    self.say(f"resume {job.id}")
                elif state in ("RUNNING", "QUEUED") and r > 0.95:
                    self.call("CancelJob", pb.CancelJobRequest(job_id=job.id))
                    self.counts["cancels"] += 1
                    self.say(f"cancel {job.id}")
        except grpc.RpcError as e:
            self.rpc_error(e)

    def rpc_error(self, e):
        # A request refused for its state (a pause that raced the job's end)
        # is fine; an unreachable server is the kill we are about to make.
        codes = self.grpc.StatusCode
        if e.code() not in (codes.FAILED_PRECONDITION, codes.UNAVAILABLE, codes.DEADLINE_EXCEEDED):
            self.violation(f"{e.code().name} from the server: {e.details()}")

    def upload_ignoring_errors(self, csv):
        try:
            ds = self.upload(csv, pause=0.02)
            self.say(f"uploaded dataset {ds.id} (streamed slowly; not used by jobs)")
        except self.grpc.RpcError:
            pass  # the kill cut it off, as intended

    # -------------------------------------------------------------- checks
    def read_log(self, job_id, upto):
        """The job's stored events 1..upto (fewer if the stream ends first)."""
        out = []
        stream = self.stub.WatchJob(self.pb.WatchJobRequest(job_id=job_id, after_seq=0),
                                    timeout=30)
        for ev in stream:
            if ev.WhichOneof("kind") == "heartbeat":
                continue
            out.append(ev)
            if ev.seq >= upto:
                stream.cancel()
                break
        return out

    def download(self, ckpt_id, stub=None):
        h, data = hashlib.sha256(), []
        offset, total, announced = 0, None, None
        for chunk in (stub or self.stub).DownloadCheckpoint(
                self.pb.DownloadCheckpointRequest(checkpoint_id=ckpt_id), timeout=60):
            if chunk.offset != offset:
                raise RuntimeError(f"chunk at offset {chunk.offset}, expected {offset}")
            total, announced = chunk.total_size, chunk.sha256
            h.update(chunk.data)
            data.append(chunk.data)
            offset += len(chunk.data)
        if total is None or offset != total or h.hexdigest() != ckpt_id or announced != ckpt_id:
            raise RuntimeError(f"checkpoint {ckpt_id}: {offset} of {total} bytes, sha256 "
                               f"{h.hexdigest()}, announced {announced}")
        return b"".join(data)

    def blob_files(self):
        """(path, name, mtime) of every file under blobs/, tmp/ included."""
        root = os.path.join(self.server.data_dir, "blobs")
        out = []
        for d, _, files in os.walk(root):
            for f in files:
                p = os.path.join(d, f)
                try:
                    out.append((p, f, os.stat(p).st_mtime))
                except FileNotFoundError:
                    pass  # removed while listing: a temp file being renamed
        return out

    def check_after_restart(self):
        pb = self.pb
        # Listed first: rows only grow, so a file named by a row now is named later.
        files = self.blob_files()
        listed = self.list_jobs()
        by_id = {j.id: j for j in listed}
        with self.mu:
            tracked = dict(self.jobs)
            received = {k: list(v) for k, v in self.received.items()}
            watch_errors, self.watch_errors = self.watch_errors, []
        for e in watch_errors:
            self.violation(e)
        for job_id, info in tracked.items():
            if info.get("acked") and job_id not in by_id:
                self.violation(f"acknowledged job {job_id} is gone after the restart")
        for job in listed:
            if job.id not in tracked:  # a submit the kill cut off that did commit
                with self.mu:
                    self.jobs[job.id] = {"request": None, "acked": False}
                    self.received.setdefault(job.id, [])
                self.start_watcher(job.id)
                self.say(f"found {job.id} (submitted, unacknowledged, committed)")
        referenced = {ds.sha256 for ds in self.call(
            "ListDatasets", pb.ListDatasetsRequest(page_size=1000)).datasets}
        n_events = n_ckpts = 0
        for job in listed:
            got = received.get(job.id, [])
            upto = max(job.last_event_seq, got[-1].seq if got else 0)
            log = self.read_log(job.id, upto)
            for i, ev in enumerate(log):
                if ev.seq != i + 1:
                    self.violation(f"job {job.id}: event {i + 1} of the log has seq {ev.seq}")
                    break
            if not log or not log[0].HasField("state_change") or \
                    log[0].state_change.to != pb.QUEUED:
                self.violation(f"job {job.id}: the log does not start with the QUEUED change: "
                               f"{log[0] if log else 'empty'}")
            by_seq = {ev.seq: ev for ev in log}
            for ev in got:
                if by_seq.get(ev.seq) != ev:
                    self.violation(f"job {job.id}: event seq {ev.seq} seen by a watcher is "
                                   f"{'gone' if ev.seq not in by_seq else 'changed'}: "
                                   + str(ev).replace("\n", " "))
            n_events += len(got)
            ckpts = self.call("ListCheckpoints", pb.ListCheckpointsRequest(job_id=job.id)).checkpoints
            ids = {c.id for c in ckpts}
            referenced |= ids
            # Listed after the job was read, and rows only grow: the pointer
            # committed with its row must name one of them.
            if job.latest_checkpoint_id and job.latest_checkpoint_id not in ids:
                self.violation(f"job {job.id}: latest checkpoint {job.latest_checkpoint_id} "
                               f"is not among its {len(ids)} listed checkpoints")
            for c in ckpts:
                if c.id in self.verified_checkpoints:
                    continue
                try:
                    self.download(c.id)
                except (self.grpc.RpcError, RuntimeError) as e:
                    self.violation(f"job {job.id}: checkpoint {c.id} does not download whole: {e}")
                    continue
                self.verified_checkpoints.add(c.id)
                n_ckpts += 1
        self.counts["events_checked"] += n_events
        self.counts["checkpoints_verified"] += n_ckpts
        # Orphans: files older than this start that no row names.
        self.counts["orphan_checks"] += 1
        orphans = [p for p, name, mtime in files
                   if mtime < self.server.started_at - 0.01 and
                   (os.path.basename(os.path.dirname(p)) == "tmp" or name not in referenced)]
        for p in orphans:
            if os.path.exists(p):
                self.violation(f"orphan left by the start-up sweep: {p}")
        self.check_second_server()
        self.say(f"checked: {len(listed)} jobs acked/present, {n_events} watched events in the "
                 f"log, {n_ckpts} new checkpoints verified, {len(files)} blob files "
                 f"({len(orphans)} orphans), second server refused")

    def check_second_server(self):
        other = f"127.0.0.1:{free_port()}"
        out = os.path.join(self.work, "second.log")
        with open(out, "wb") as log:
            p = subprocess.Popen(self.server.args(other), stdout=log, stderr=subprocess.STDOUT)
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.violation(f"a second server on {self.server.data_dir} started (still up after 20 s)")
            return
        text = open(out, errors="replace").read()
        if rc == 0 or self.server.data_dir not in text:
            self.violation(f"second server on the same dir: exit {rc}, said: {text.strip()}")
            return
        self.counts["owner_refusals"] += 1

    # --------------------------------------------------------------- phases
    def kill_and_restart(self):
        """Returns the seconds from the kill until the server answered again."""
        t = time.time()
        self.server.kill9()
        self.counts["kills"] += 1
        self.server.start()
        self.reconnect()  # lazy: it first connects once the server is listening
        self.wait_ready()
        self.counts["restarts"] += 1
        return time.time() - t

    def run(self):
        a = self.args
        self.say(f"soak: seed {a.seed}, server {self.binary}, work dir {self.work}, "
                 f"listening on {self.addr}")
        os.makedirs(self.server.data_dir)
        self.server.start()
        self.wait_ready()
        csv = synthetic_csv(self.rng, ROWS, 16, 4)
        ds = self.upload(csv)
        self.datasets[ds.id] = csv
        deadline = time.time() + a.minutes * 60 if a.minutes else None
        while True:
            if a.kills is not None and self.counts["kills"] >= a.kills:
                break
            if deadline and time.time() >= deadline:
                break
            mode = self.rng.choice(["delay", "delay", "delay", "after_submit", "after_upload",
                                    "after_checkpoint", "during_upload"])
            delay = self.rng.uniform(0.05, a.max_delay)
            self.kill_trigger.clear()
            with self.mu:
                self.trigger_on_checkpoint = mode == "after_checkpoint"
            control_at = self.rng.uniform(0, delay)
            start = time.time()
            self.act(mode)
            while time.time() - start < delay and not self.kill_trigger.is_set():
                self.kill_trigger.wait(0.05)
                if control_at is not None and time.time() - start >= control_at:
                    control_at = None
                    self.control()
            with self.mu:
                self.trigger_on_checkpoint = False
            # after_checkpoint waits up to 3 delays for a checkpoint event
            if mode == "after_checkpoint" and not self.kill_trigger.is_set():
                self.kill_trigger.wait(2 * delay)
            if self.kill_trigger.is_set() and mode.startswith("after_"):
                when = "right after an acknowledged " + mode[len("after_"):]
            else:
                when = f"after {time.time() - start:.2f} s" + (
                    " (an upload streaming)" if mode == "during_upload" else "")
            took = self.kill_and_restart()
            self.say(f"kill {self.counts['kills']}: SIGKILL {when}; answering again after "
                     f"{took:.2f} s")
            self.check_after_restart()
        self.drain()
        self.compare_with_references()
        self.server.stop()
        self.stop_watchers.set()
        for t in self.watchers:
            t.join(timeout=10)

    def drain(self):
        """No more kills: every job must end; paused ones are resumed."""
        pb = self.pb
        self.say("drain: no more kills; every job must reach a terminal state")
        deadline = time.time() + self.args.drain_seconds
        while True:
            jobs = self.list_jobs()
            now = time.time()
            waiting = []
            for j in jobs:
                state = pb.JobState.Name(j.state)
                if state in TERMINAL:
                    continue
                if state == "PAUSED":
                    try:
                        self.call("ResumeJob", pb.ResumeJobRequest(job_id=j.id))
                        self.counts["resumes"] += 1
                    except self.grpc.RpcError as e:
                        self.rpc_error(e)
                seq, since = self.last_progress.get(j.id, (-1, now))
                if j.last_event_seq != seq:
                    self.last_progress[j.id] = (j.last_event_seq, now)
                elif state == "RUNNING" and now - since > self.args.stall_seconds:
                    self.violation(f"job {j.id} RUNNING with no new event for "
                                   f"{now - since:.0f} s (seq {seq})")
                    self.last_progress[j.id] = (seq, now)
                waiting.append(f"{j.id}:{state}")
            if not waiting:
                break
            if now > deadline:
                self.violation(f"jobs not terminal after {self.args.drain_seconds} s: {waiting}")
                break
            time.sleep(0.5)
        # One more restart on a quiet store: the checks once more, nothing moving.
        self.server.stop()
        self.server.start()
        self.reconnect()
        self.wait_ready()
        self.counts["restarts"] += 1
        self.check_after_restart()

    def compare_with_references(self):
        """SUCCEEDED jobs against uninterrupted runs of the same request."""
        pb = self.pb
        jobs = self.list_jobs()
        states = {}
        for j in jobs:
            s = pb.JobState.Name(j.state)
            states[s] = states.get(s, 0) + 1
            if s == "FAILED" and "quarantined" not in j.error.message:
                self.violation(f"job {j.id} FAILED: {j.error.code} {j.error.message}")
            elif s == "FAILED":
                # Running at three kills in a row: the poison-job quarantine's
                # designed answer (docs/decisions.md), not a violation.
                self.say(f"job {j.id} FAILED, quarantined: {j.error.message}")
        self.states = states
        done = [j for j in jobs if j.state == pb.SUCCEEDED]
        if not done:
            return
        ref_dir = os.path.join(self.work, "reference")
        os.makedirs(os.path.join(ref_dir, "data"))
        ref = Server(self.binary, f"127.0.0.1:{free_port()}", os.path.join(ref_dir, "data"),
                     os.path.join(ref_dir, "server.log"))
        ref.start()
        ref_channel = self.grpc.insecure_channel(ref.addr)
        rs = self.rpc.TrainingServiceStub(ref_channel)
        try:
            self.wait_ready(server=ref, stub=rs)
            ref_ds = {}
            refs = {}  # (dataset, model, training) -> digest of the uninterrupted run
            for j in done:
                src = self.datasets.get(j.dataset_id)
                if src is None:
                    self.violation(f"job {j.id}: dataset {j.dataset_id} is not one the soak uploaded")
                    continue
                if j.dataset_id not in ref_ds:
                    ref_ds[j.dataset_id] = self.upload(src, stub=rs).id
                key = (j.dataset_id, j.model.SerializeToString(deterministic=True),
                       j.training.SerializeToString(deterministic=True))
                if key not in refs:
                    refs[key] = self.reference_digest(j, ref_ds[j.dataset_id], rs)
                if refs[key] is None:
                    continue
                got = params_digest(self.download(j.latest_checkpoint_id), pb)
                self.bit[1] += 1
                # How this run was interrupted, from its own log.
                log = self.read_log(j.id, j.last_event_seq)
                kills = sum(e.HasField("state_change") and e.state_change.reason == "server restart"
                            for e in log)
                pauses = sum(e.HasField("state_change") and e.state_change.to == pb.PAUSED
                             for e in log)
                self.interrupted[0] += kills > 0
                self.interrupted[1] += pauses > 0
                if got == refs[key]:
                    self.bit[0] += 1
                else:
                    self.violation(f"job {j.id} (seed {j.training.seed}) ended with state "
                                   f"{got[:16]}..., the uninterrupted run with {refs[key][:16]}...")
            self.say(f"bit-identical to an uninterrupted run: {self.bit[0]}/{self.bit[1]} "
                     f"succeeded jobs ({self.interrupted[0]} resumed after a kill, "
                     f"{self.interrupted[1]} after a pause; {len(refs)} reference runs)")
        finally:
            ref_channel.close()
            ref.stop()

    def reference_digest(self, job, dataset_id, stub):
        """Runs job's model and training on the reference server, undisturbed."""
        pb = self.pb
        req = pb.SubmitJobRequest(request_id=str(uuid.uuid4()), name="reference",
                                  model=job.model, training=job.training, dataset_id=dataset_id)
        rj = self.call("SubmitJob", req, stub=stub)
        while pb.JobState.Name(rj.state) not in TERMINAL:
            time.sleep(0.2)
            rj = self.call("GetJob", pb.GetJobRequest(job_id=rj.id), stub=stub)
        if rj.state != pb.SUCCEEDED:
            self.violation(f"reference run for {job.id} ended {pb.JobState.Name(rj.state)}: "
                           f"{rj.error.message}")
            return None
        return params_digest(self.download(rj.latest_checkpoint_id, stub=stub), pb)

    def summary(self):
        c = self.counts
        states = " ".join(f"{k.lower()}={v}" for k, v in sorted(self.states.items()))
        bit, interrupted = self.bit, self.interrupted
        return (f"soak: kills={c['kills']} restarts={c['restarts']} jobs={len(self.jobs)} "
                f"({states}) events_checked={c['events_checked']} "
                f"checkpoints_verified={c['checkpoints_verified']} "
                f"bit_identical={bit[0]}/{bit[1]} (resumed_after_kill={interrupted[0]} "
                f"resumed_after_pause={interrupted[1]}) owner_refusals={c['owner_refusals']} "
                f"orphan_checks={c['orphan_checks']} pauses={c['pauses']} resumes={c['resumes']} "
                f"cancels={c['cancels']} uploads={c['uploads']} violations={len(self.violations)} "
                f"seed={self.args.seed} elapsed={time.time() - self.t0:.0f}s")


def main():
    args = parse_args()
    try:
        import grpc
        from google.protobuf import json_format
    except ImportError:
        print("error: apt-get install python3-grpcio python3-protobuf (and run /usr/bin/python3)",
              file=sys.stderr)
        return 2
    binary = os.path.join(args.build_dir, "server", "trainyard-server")
    if not os.access(binary, os.X_OK):
        print(f"error: no server binary at {binary} (--build-dir; build it first)", file=sys.stderr)
        return 2
    work = args.work_dir or tempfile.mkdtemp(prefix="trainyard-soak-")
    os.makedirs(work, exist_ok=True)
    soak = None
    try:
        pb, rpc = load_stubs(work)
        soak = Soak(args, grpc, json_format, pb, rpc, work)
        try:
            soak.run()
        except (RuntimeError, grpc.RpcError) as e:
            detail = f"{e.code().name}: {e.details()}" if isinstance(e, grpc.RpcError) else str(e)
            soak.violation(f"the soak could not go on: {detail}\n{soak.server.log_tail()}")
        print(soak.summary(), flush=True)
        for v in soak.violations:
            print(f"violation: {v}", file=sys.stderr)
        return 1 if soak.violations else 0
    finally:
        if soak is not None:
            soak.stop_watchers.set()
            if soak.server.proc and soak.server.proc.poll() is None:
                soak.server.proc.kill()
                soak.server.proc.wait()
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
