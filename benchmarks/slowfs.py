"""slowfs: storage with a fixed latency per read request, to measure reading ahead where reads wait (as
Lambda's lazily loaded image chunks do): a read-only pass-through FUSE file system (C, libfuse3) that
sleeps before every read it serves. Multi-threaded, so requests issued in parallel wait in parallel.

    apt-get install libfuse3-dev pkg-config gcc
    .venv/bin/python benchmarks/slowfs.py mount SOURCE_DIR MOUNT_POINT [--delay-us 1000]
    .venv/bin/python benchmarks/slowfs.py umount MOUNT_POINT

The kernel sends FUSE reads of at most 128 KB here, so 1 ms per request caps one sequential reader at
about 120 MB/s. A model of latency, not of Lambda's storage: its chunk sizes, caches and bandwidth differ.
"""

import argparse
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

SOURCE = r"""
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *source;
static useconds_t delay_us;

static void real_path(char *out, const char *path) { snprintf(out, PATH_MAX, "%s%s", source, path); }

static void *on_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->kernel_cache = 1;  /* keep pages between opens: what the benchmark evicts is the only cold state */
    cfg->entry_timeout = cfg->attr_timeout = cfg->negative_timeout = 3600;
    return NULL;
}

static int on_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    (void)fi;
    real_path(p, path);
    return lstat(p, st) == 0 ? 0 : -errno;
}

static int on_readlink(const char *path, char *buf, size_t size) {
    char p[PATH_MAX];
    real_path(p, path);
    ssize_t n = readlink(p, buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = '\0';
    return 0;
}

static int on_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
    char p[PATH_MAX];
    (void)offset; (void)fi; (void)flags;
    real_path(p, path);
    DIR *dir = opendir(p);
    if (!dir) return -errno;
    for (struct dirent *e; (e = readdir(dir));) fill(buf, e->d_name, NULL, 0, 0);
    closedir(dir);
    return 0;
}

static int on_open(const char *path, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    real_path(p, path);
    int fd = open(p, O_RDONLY);
    if (fd < 0) return -errno;
    fi->fh = (uint64_t)fd;
    fi->keep_cache = 1;
    return 0;
}

static int on_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path;
    if (delay_us) usleep(delay_us);
    ssize_t n = pread((int)fi->fh, buf, size, offset);
    return n < 0 ? -errno : (int)n;
}

static int on_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    close((int)fi->fh);
    return 0;
}

static const struct fuse_operations operations = {
    .init = on_init, .getattr = on_getattr, .readlink = on_readlink, .readdir = on_readdir,
    .open = on_open, .read = on_read, .release = on_release,
};

int main(int argc, char *argv[]) {
    source = getenv("SLOWFS_SOURCE");
    const char *delay = getenv("SLOWFS_DELAY_US");
    if (!source) { fprintf(stderr, "set SLOWFS_SOURCE to the directory to serve\n"); return 2; }
    delay_us = delay ? (useconds_t)atoi(delay) : 0;
    return fuse_main(argc, argv, &operations, NULL);
}
"""


def build() -> Path:
    folder = Path(tempfile.gettempdir()) / "infer-slowfs"
    folder.mkdir(exist_ok=True)
    (folder / "slowfs.c").write_text(SOURCE)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], check=True, capture_output=True, text=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(folder / "slowfs"), str(folder / "slowfs.c"),
                    *shlex.split(flags.stdout)], check=True)
    return folder / "slowfs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["mount", "umount"])
    parser.add_argument("paths", nargs="+", type=Path, help="mount: SOURCE_DIR MOUNT_POINT; umount: MOUNT_POINT")
    parser.add_argument("--delay-us", type=int, default=1000)
    args = parser.parse_args()
    if args.action == "umount":
        subprocess.run(["fusermount3", "-u", str(args.paths[0])], check=True)
        return
    source, mount = args.paths
    mount.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SLOWFS_SOURCE": str(source.resolve()), "SLOWFS_DELAY_US": str(args.delay_us)}
    # Without -f the daemon forks into the background once mounted; it ends when unmounted.
    subprocess.run([str(build()), str(mount), "-o", "ro"], check=True, env=env)
    print(f"{source} served at {mount} with {args.delay_us} us per read request; stop with: umount {mount}")


if __name__ == "__main__":
    main()
