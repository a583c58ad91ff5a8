"""What the Python gRPC tests share: stubs generated from proto/popqueue.proto
at run time, and the mismatch they report (exit 1 with the reason)."""

import os
import subprocess
import sys


def generate_stubs(proto_dir, out_dir):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I" + proto_dir,
         "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
         os.path.join(proto_dir, "popqueue.proto")],
        check=True)
    sys.path.insert(0, out_dir)


class Mismatch(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Mismatch(message)
