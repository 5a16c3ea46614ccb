"""Runs an image's entrypoint as a container runtime would, for machines where no container can
start: chrooted into the image's exported filesystem, as the image's user (looked up in the
image's own /etc/passwd), in its working folder, with its environment and nothing else. What runs
is the image's own files: its binary, its libraries, its loader.

usage (as root): chroot_run.py ROOTFS INSPECT.json ARG...   (INSPECT.json: `podman image inspect`)
"""
import json
import os
import sys

root, inspect, args = sys.argv[1], sys.argv[2], sys.argv[3:]
config = json.load(open(inspect, encoding="utf-8"))[0]["Config"]
user, _, group = (config.get("User") or "0").partition(":")
ids = {}
for line in open(os.path.join(root, "etc/passwd"), encoding="utf-8"):
    name, _, uid, gid = line.split(":")[:4]
    ids[name] = (int(uid), int(gid))
uid, gid = ids[user] if user in ids else (int(user), int(group or 0))
env = dict(e.split("=", 1) for e in config.get("Env") or [])
entrypoint = config["Entrypoint"]

os.chroot(root)
os.chdir(config.get("WorkingDir") or "/")
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execve(entrypoint[0], entrypoint + args, env)
