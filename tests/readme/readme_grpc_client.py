#!/usr/bin/env python3
"""A gRPC client generated from the original README's proto text (not from
proto/popqueue.proto), as a new user would write one.

  readme_grpc_client.py --proto FILE --address HOST:PORT details
  readme_grpc_client.py --proto FILE --address HOST:PORT requeue JOB_ID

FILE is one of the README's two proto snippets, saved as printed. The client
compiles it with grpc_tools.protoc (Debian's python3-grpc-tools) into a
temporary folder, calls GetJobDetails with the README's empty request or
RequeueJob with the README's jobId, and prints the reply as JSON with the
README's field names (or {"code": ..., "details": ...} for an error status,
exit 0 as well: the caller checks). Exit 1 when the reply cannot be decoded
with the README's messages.

Each snippet declares service popqueue.PopQueue, so the two cannot live in one
process (one descriptor pool): one process per call.
"""
import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile

import grpc
from google.protobuf import json_format
from grpc_tools import protoc


def generate(proto_path, out_dir):
    """Compiles the snippet; returns its (messages, services) modules."""
    name = "readme_snippet"
    src = os.path.join(out_dir, name + ".proto")
    shutil.copyfile(proto_path, src)
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["grpc_tools.protoc", "-I" + out_dir, "-I" + include,
                      "--python_out=" + out_dir, "--grpc_python_out=" + out_dir, src])
    if rc != 0:
        raise SystemExit("protoc failed on the README's proto text (%s)" % proto_path)
    sys.path.insert(0, out_dir)
    return importlib.import_module(name + "_pb2"), importlib.import_module(name + "_pb2_grpc")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("call", choices=["details", "requeue"])
    parser.add_argument("job_id", nargs="?")
    args = parser.parse_args()

    out_dir = tempfile.mkdtemp(prefix="popqueue-readme-grpc-")
    try:
        pb, pb_grpc = generate(args.proto, out_dir)
        stub = pb_grpc.PopQueueStub(grpc.insecure_channel(args.address))
        try:
            if args.call == "details":
                reply = stub.GetJobDetails(pb.JobDetailsRequest(), timeout=30)
            else:
                reply = stub.RequeueJob(pb.RequeueJobRequest(jobId=args.job_id), timeout=30)
        except grpc.RpcError as e:
            print(json.dumps({"code": e.code().name, "details": e.details()}))
            return 0
        # The README's messages decoded the bytes; fields the README does not
        # know (pop-queue's extensions) are kept as unknown fields, not shown.
        print(json.dumps(json_format.MessageToDict(
            reply, preserving_proto_field_name=True, including_default_value_fields=True)))
        return 0
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
