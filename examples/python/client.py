#!/usr/bin/python3
"""A trainyard client in plain Python (Debian's python3-grpcio).

Uploads a CSV dataset, submits a training job, streams its metrics until the
job ends, downloads the final checkpoint (verifying its sha256) and evaluates
it on the uploaded data. The gRPC stubs are generated from proto/ at run time
into a temporary directory (nothing generated is committed):

    python3 examples/python/client.py --addr 127.0.0.1:50051 \
        --csv data.csv --header --model model.json --training training.json \
        --out model.ckpt

Exit status: 0 when the job SUCCEEDED and the checkpoint verified (and, if
given, --min-accuracy / --max-mse hold), 1 otherwise.
"""

import argparse
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import uuid

CHUNK_BYTES = 1 << 20  # 1 MiB per upload message, as the API suggests.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate_stubs(proto_dir, out_dir):
    """Runs protoc + grpc_python_plugin over proto/trainyard/v1/*.proto into out_dir."""
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        sys.exit("error: protoc and grpc_python_plugin are needed "
                 "(apt-get install protobuf-compiler protobuf-compiler-grpc)")
    v1 = os.path.join(proto_dir, "trainyard", "v1")
    protos = sorted(os.path.join(v1, f) for f in os.listdir(v1) if f.endswith(".proto"))
    cmd = [protoc, "-I", proto_dir, f"--python_out={out_dir}", f"--grpc_out={out_dir}",
           f"--plugin=protoc-gen-grpc={plugin}"] + protos
    subprocess.run(cmd, check=True)
    # The generated modules import each other as trainyard.v1.*; Python 3
    # namespace packages make that work once out_dir is on sys.path.
    sys.path.insert(0, out_dir)
    # Messages live in the module of the .proto that defines them (ModelSpec in
    # model_pb2, CsvOptions in dataset_pb2, ...); one merged namespace keeps the
    # code below free of that detail.
    pb = types.SimpleNamespace()
    for proto in protos:
        stem = os.path.splitext(os.path.basename(proto))[0]
        module = importlib.import_module(f"trainyard.v1.{stem}_pb2")
        for name in dir(module):
            if not name.startswith("_"):
                setattr(pb, name, getattr(module, name))
    rpc = importlib.import_module("trainyard.v1.service_pb2_grpc")
    return pb, rpc


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--addr", default=os.environ.get("TRAINYARD_ADDR", "127.0.0.1:50051"))
    p.add_argument("--token", default=os.environ.get("TRAINYARD_TOKEN", ""),
                   help="bearer token (env TRAINYARD_TOKEN)")
    p.add_argument("--csv", required=True, help="CSV file to upload")
    p.add_argument("--name", default=None, help="dataset name (default: file name)")
    p.add_argument("--header", action="store_true", help="the CSV has a header row")
    p.add_argument("--label-column", action="append", default=[],
                   help="target column name or 0-based index (default: last column)")
    p.add_argument("--regression", action="store_true", help="targets are real values")
    p.add_argument("--preprocessing", choices=["none", "scale01", "standardize"],
                   default="none")
    p.add_argument("--model", required=True, help="ModelSpec as JSON")
    p.add_argument("--training", required=True, help="TrainingConfig as JSON")
    p.add_argument("--epochs", type=int, default=0, help="override TrainingConfig.epochs")
    p.add_argument("--out", required=True, help="where to write the downloaded checkpoint")
    p.add_argument("--proto-dir", default=os.path.join(REPO_ROOT, "proto"))
    p.add_argument("--connect-timeout", type=float, default=15.0)
    p.add_argument("--min-accuracy", type=float, default=None,
                   help="fail unless evaluation accuracy is at least this")
    p.add_argument("--max-mse", type=float, default=None,
                   help="fail unless evaluation MSE is at most this")
    return p.parse_args()


class Client:
    def __init__(self, pb, rpc, grpc, args):
        self.pb, self.grpc = pb, grpc
        # Default gRPC message limits are 4 MiB; checkpoints stream in chunks,
        # but raise the receive limit to the server's default anyway.
        options = [("grpc.max_receive_message_length", 64 << 20),
                   ("grpc.max_send_message_length", 64 << 20)]
        self.channel = grpc.insecure_channel(args.addr, options=options)
        grpc.channel_ready_future(self.channel).result(timeout=args.connect_timeout)
        self.stub = rpc.TrainingServiceStub(self.channel)
        # Per-call metadata rather than call credentials: gRPC refuses call
        # credentials on an insecure channel, and the server's token check only
        # reads this header.
        self.md = [("authorization", f"Bearer {args.token}")] if args.token else []

    def upload_csv(self, path, name, has_header, label_columns, regression, prep):
        pb = self.pb
        size = os.path.getsize(path)
        options = pb.CsvOptions(
            has_header=has_header, label_columns=label_columns,
            label_kind=pb.REGRESSION_TARGETS if regression else pb.CLASS_LABELS,
            preprocessing={"none": pb.PREPROCESSING_NONE, "scale01": pb.SCALE_01,
                           "standardize": pb.STANDARDIZE}[prep])
        header = pb.DatasetHeader(name=name, format=pb.CSV, csv_options=options,
                                  total_size_bytes=size)

        def requests():
            digest = hashlib.sha256()
            yield pb.UploadDatasetRequest(header=header)
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    digest.update(chunk)
                    yield pb.UploadDatasetRequest(chunk=chunk)
            yield pb.UploadDatasetRequest(trailer=pb.UploadTrailer(sha256=digest.hexdigest()))

        return self.stub.UploadDataset(requests(), metadata=self.md, timeout=600)

    def submit(self, model, training, dataset_id, name):
        req = self.pb.SubmitJobRequest(request_id=str(uuid.uuid4()), name=name, model=model,
                                       training=training, dataset_id=dataset_id)
        return self.stub.SubmitJob(req, metadata=self.md, timeout=30)

    def watch(self, job_id):
        """Prints events until the job ends; reconnects after a dropped stream
        with the last seq seen, so nothing is missed or shown twice."""
        pb, grpc = self.pb, self.grpc
        last_seq, retries = 0, 0
        while True:
            try:
                stream = self.stub.WatchJob(pb.WatchJobRequest(job_id=job_id, after_seq=last_seq),
                                            metadata=self.md)
                for ev in stream:
                    retries = 0
                    kind = ev.WhichOneof("kind")
                    if kind == "heartbeat":
                        continue
                    last_seq = ev.seq
                    self._print_event(ev, kind)
                return  # the server ends the stream after the terminal state
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or retries >= 5:
                    raise
                retries += 1
                print(f"  (watch interrupted: {e.details()}; reconnecting after seq {last_seq})")
                time.sleep(min(2 ** retries * 0.2, 5))

    def _print_event(self, ev, kind):
        pb = self.pb
        if kind == "state_change":
            sc = ev.state_change
            # `from` is a Python keyword, hence getattr.
            line = (f"[{ev.seq:4d}] state {pb.JobState.Name(getattr(sc, 'from'))} -> "
                    f"{pb.JobState.Name(sc.to)}")
            if sc.reason:
                line += f" ({sc.reason})"
            if sc.HasField("error"):
                line += f": error {sc.error.code}: {sc.error.message}"
            print(line)
        elif kind == "step_metrics":
            p = ev.step_metrics.points[-1] if ev.step_metrics.points else None
            if p:
                print(f"[{ev.seq:4d}] step {p.step} epoch {p.epoch} loss {p.loss:.4f} "
                      f"lr {p.learning_rate:.3g} |g| {p.grad_norm:.3g}")
        elif kind == "epoch_metrics":
            m = ev.epoch_metrics
            line = f"[{ev.seq:4d}] epoch {m.epoch} train_loss {m.train_loss:.4f}"
            if m.train_accuracy >= 0:
                line += f" train_acc {m.train_accuracy:.4f}"
            if m.val_loss >= 0:
                line += f" val_loss {m.val_loss:.4f}"
            if m.val_accuracy >= 0:
                line += f" val_acc {m.val_accuracy:.4f}"
            line += f" ({m.samples_per_second:.0f} samples/s, {m.epoch_seconds:.2f} s)"
            print(line)
        elif kind == "checkpoint_saved":
            c = ev.checkpoint_saved
            print(f"[{ev.seq:4d}] checkpoint {c.checkpoint_id[:12]}… epoch {c.epoch} "
                  f"step {c.step} ({pb.CheckpointReason.Name(c.reason)})")
        elif kind == "diagnostics":
            # One line per layer of the newest snapshot of the batch.
            if not ev.diagnostics.snapshots:
                return
            snap = ev.diagnostics.snapshots[-1]
            print(f"[{ev.seq:4d}] diagnostics at step {snap.step} epoch {snap.epoch}")
            for layer in snap.layers:
                parts = []
                if layer.HasField("parameters"):
                    p = layer.parameters
                    parts.append(f"|g| {p.grad_norm:.3g} |w| {p.weight_norm:.3g} "
                                 f"|dw|/|w| {p.update_ratio:.3g}")
                if layer.HasField("activation"):
                    a = layer.activation
                    parts.append(f"mean {a.mean:.3g} std {a.std:.3g} "
                                 f"zeros {100 * a.zero_fraction:.1f}%")
                for st in layer.state:
                    parts.append(f"{st.name} {st.summary.mean:.4g} "
                                 f"[{st.summary.min:.4g}, {st.summary.max:.4g}]")
                print(f"         {layer.path}: " + "  ".join(parts))
        elif kind == "log":
            print(f"[{ev.seq:4d}] {pb.LogLevel.Name(ev.log.level)}: {ev.log.text}")

    def download(self, checkpoint_id, out_path):
        """Streams the checkpoint to out_path (via a temp file) and checks that
        the bytes hash to the sha256 the server announced and to the id."""
        digest = hashlib.sha256()
        expected_offset, total, announced = 0, None, None
        tmp = out_path + ".part"
        with open(tmp, "wb") as f:
            req = self.pb.DownloadCheckpointRequest(checkpoint_id=checkpoint_id, offset=0)
            for chunk in self.stub.DownloadCheckpoint(req, metadata=self.md, timeout=600):
                if chunk.offset != expected_offset:
                    raise RuntimeError(f"chunk at offset {chunk.offset}, expected {expected_offset}")
                total, announced = chunk.total_size, chunk.sha256
                f.write(chunk.data)
                digest.update(chunk.data)
                expected_offset += len(chunk.data)
        actual = digest.hexdigest()
        if total is None or expected_offset != total:
            raise RuntimeError(f"got {expected_offset} bytes, server said {total}")
        if actual != announced or actual != checkpoint_id:
            raise RuntimeError(f"sha256 mismatch: file {actual}, server {announced}, "
                               f"id {checkpoint_id}")
        os.replace(tmp, out_path)
        return total, actual


def main():
    args = parse_args()
    try:
        import grpc
        from google.protobuf import json_format
    except ImportError:
        sys.exit("error: apt-get install python3-grpcio python3-protobuf")

    gen_dir = tempfile.mkdtemp(prefix="trainyard-pystubs-")
    try:
        pb, rpc = generate_stubs(args.proto_dir, gen_dir)
        return run(args, grpc, json_format, pb, rpc)
    except grpc.RpcError as e:
        print(f"error: RPC failed: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError, json_format.ParseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except grpc.FutureTimeoutError:
        print(f"error: no server at {args.addr} after {args.connect_timeout} s", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(gen_dir, ignore_errors=True)


def run(args, grpc, json_format, pb, rpc):
    with open(args.model) as f:
        model = json_format.Parse(f.read(), pb.ModelSpec())
    with open(args.training) as f:
        training = json_format.Parse(f.read(), pb.TrainingConfig())
    if args.epochs:
        training.epochs = args.epochs

    client = Client(pb, rpc, grpc, args)
    info = client.stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=client.md, timeout=30)
    print(f"server {args.addr}: trainyard {info.version}, {info.workers} worker(s), "
          f"{info.cores} core(s), {info.scalar_type}")

    name = args.name or os.path.basename(args.csv)
    ds = client.upload_csv(args.csv, name, args.header, args.label_column, args.regression,
                           args.preprocessing)
    print(f"dataset {ds.id}: {ds.num_samples} samples x {ds.num_features} features, "
          f"{ds.num_classes} classes, sha256 {ds.sha256[:12]}…")

    job = client.submit(model, training, ds.id, name=f"python example on {name}")
    print(f"job {job.id} submitted ({pb.JobState.Name(job.state)}, {job.training.epochs} epochs)")
    client.watch(job.id)

    job = client.stub.GetJob(pb.GetJobRequest(job_id=job.id), metadata=client.md, timeout=30)
    if job.state != pb.SUCCEEDED:
        err = f": {job.error.code} {job.error.message}" if job.HasField("error") else ""
        print(f"error: job ended {pb.JobState.Name(job.state)}{err}", file=sys.stderr)
        return 1
    if not job.latest_checkpoint_id:
        print("error: job succeeded but has no checkpoint", file=sys.stderr)
        return 1

    size, sha = client.download(job.latest_checkpoint_id, args.out)
    print(f"checkpoint {sha} ({size} bytes) saved to {args.out}, sha256 verified")

    ev = client.stub.Evaluate(pb.EvaluateRequest(checkpoint_id=sha, dataset_id=ds.id),
                              metadata=client.md, timeout=300)
    summary = {"job_id": job.id, "checkpoint_id": sha, "loss": ev.loss,
               "accuracy": ev.accuracy, "mse": ev.mse, "num_samples": ev.num_samples}
    print("evaluation: " + json.dumps(summary))
    if args.min_accuracy is not None and ev.accuracy < args.min_accuracy:
        print(f"error: accuracy {ev.accuracy:.4f} < {args.min_accuracy}", file=sys.stderr)
        return 1
    if args.max_mse is not None and not (0 <= ev.mse <= args.max_mse):
        print(f"error: mse {ev.mse:.4f} not in [0, {args.max_mse}]", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
