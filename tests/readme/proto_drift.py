#!/usr/bin/env python3
"""Checks, field by field, that proto/popqueue.proto keeps every message,
field and method of the original README's proto text, so that a client
generated from the README stays wire-compatible with `popqueue serve`.

  proto_drift.py README_SNIPPET.proto... --project proto/popqueue.proto

For every message of a snippet, the project's message of the same full name
must have each of its fields with the same name, number, type, label and
message type; for every method of the snippet's service, the project's
service must have it with the same request and response types and streaming.
The project may add fields (new numbers), messages and methods. Prints each
difference and exits 1 when there is one.

The files are compiled to descriptor sets with grpc_tools.protoc and compared
as data, not loaded, so that the two definitions of popqueue.PopQueue never
meet in one descriptor pool.
"""
import argparse
import os
import shutil
import sys
import tempfile

from google.protobuf import descriptor_pb2
from grpc_tools import protoc


def descriptor_set(proto_path, work, tag):
    folder = os.path.join(work, tag)
    os.makedirs(folder)
    src = os.path.join(folder, os.path.basename(proto_path))
    shutil.copyfile(proto_path, src)
    out = os.path.join(work, tag + ".pb")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["grpc_tools.protoc", "-I" + folder, "-I" + include,
                      "--descriptor_set_out=" + out, src])
    if rc != 0:
        raise SystemExit("protoc failed on %s" % proto_path)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    return fds.file[-1]  # the file itself (imports are not included)


def index(file):
    pkg = "." + file.package if file.package else ""
    messages = {}

    def walk(prefix, descs):
        for m in descs:
            messages[prefix + "." + m.name] = m
            walk(prefix + "." + m.name, m.nested_type)
    walk(pkg, file.message_type)
    services = {pkg + "." + s.name: s for s in file.service}
    return messages, services


def describe(field):
    label = descriptor_pb2.FieldDescriptorProto.Label.Name(field.label)
    kind = descriptor_pb2.FieldDescriptorProto.Type.Name(field.type)
    return "%s %s %s = %d%s" % (label.replace("LABEL_", "").lower(),
                                kind.replace("TYPE_", "").lower(), field.name, field.number,
                                " (" + field.type_name + ")" if field.type_name else "")


def compare(readme, project, where):
    problems = []
    r_msgs, r_svcs = index(readme)
    p_msgs, p_svcs = index(project)
    if readme.package != project.package:
        problems.append("%s: package %r, project %r" % (where, readme.package, project.package))
    for name, rm in r_msgs.items():
        pm = p_msgs.get(name)
        if pm is None:
            problems.append("%s: message %s is missing from the project" % (where, name))
            continue
        by_number = {f.number: f for f in pm.field}
        for rf in rm.field:
            pf = by_number.get(rf.number)
            if pf is None:
                problems.append("%s: %s field %d (%s) is missing" % (where, name, rf.number,
                                                                   describe(rf)))
                continue
            for attr in ("name", "type", "label", "type_name"):
                if getattr(rf, attr) != getattr(pf, attr):
                    problems.append("%s: %s field %d: README %s, project %s" %
                                    (where, name, rf.number, describe(rf), describe(pf)))
                    break
            if rf.json_name != pf.json_name:
                problems.append("%s: %s field %d: JSON name README %r, project %r" %
                                (where, name, rf.number, rf.json_name, pf.json_name))
    for name, rs in r_svcs.items():
        ps = p_svcs.get(name)
        if ps is None:
            problems.append("%s: service %s is missing from the project" % (where, name))
            continue
        methods = {m.name: m for m in ps.method}
        for rmeth in rs.method:
            pmeth = methods.get(rmeth.name)
            if pmeth is None:
                problems.append("%s: %s.%s is missing" % (where, name, rmeth.name))
                continue
            for attr in ("input_type", "output_type", "client_streaming", "server_streaming"):
                if getattr(rmeth, attr) != getattr(pmeth, attr):
                    problems.append("%s: %s.%s %s: README %r, project %r" %
                                    (where, name, rmeth.name, attr, getattr(rmeth, attr),
                                     getattr(pmeth, attr)))
    return problems, sum(len(m.field) for m in r_msgs.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("snippets", nargs="+")
    parser.add_argument("--project", required=True)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="popqueue-proto-drift-")
    try:
        project = descriptor_set(args.project, work, "project")
        problems, fields = [], 0
        for i, snippet in enumerate(args.snippets):
            p, n = compare(descriptor_set(snippet, work, "readme%d" % i), project, snippet)
            problems += p
            fields += n
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print("DRIFT: " + p)
    if problems:
        return 1
    if fields == 0:
        print("no README field compared: the snippets are empty?")
        return 1
    print("ok: %d README fields and every method match proto/popqueue.proto" % fields)
    return 0


if __name__ == "__main__":
    sys.exit(main())
