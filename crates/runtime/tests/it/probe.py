# Runs inside a sandbox (as root, the most privileged user there) and reports, as JSON, what it
# could see and do. The Rust side decides what is acceptable; this script only observes.
import ctypes, errno, json, os, sys

libc = ctypes.CDLL(None, use_errno=True)
report = {}
args = json.loads(sys.argv[1])


def attempt(name, call):
    """Runs call(); records 'ok' or the errno name it failed with."""
    try:
        result = call()
        if isinstance(result, int) and result < 0:
            report[name] = errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
        else:
            report[name] = "ok"
    except OSError as e:
        report[name] = errno.errorcode.get(e.errno, str(e.errno))


def write_file(path, data):
    def go():
        with open(path, "w") as f:
            f.write(data)
    return go


pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
report["pids"] = sorted(pids)
report["comms"] = {}
for pid in pids:
    try:
        with open(f"/proc/{pid}/comm") as f:
            report["comms"][str(pid)] = f.read().strip()
    except OSError:
        pass
report["visible_paths"] = [p for p in args["host_paths"] if os.path.exists(p)]
try:
    with open("/etc/shadow", "rb") as f:
        report["shadow"] = f.read().decode("latin-1")
except OSError as e:
    report["shadow"] = "error " + str(e.errno)
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith(("CapBnd", "CapEff", "Seccomp:")):
            key, value = line.split(":", 1)
            report[key] = value.strip()

attempt("write_sys", write_file("/sys/kernel/uevent_helper", "/evil"))
attempt("write_proc_sys", write_file("/proc/sys/kernel/hostname", "evil"))
attempt("write_sysrq", write_file("/proc/sysrq-trigger", "h"))
attempt("mount_tmpfs", lambda: libc.mount(b"none", b"/mnt", b"tmpfs", 0, None))
attempt("mount_proc", lambda: libc.mount(b"proc", b"/mnt", b"proc", 0, None))
attempt("umount_proc", lambda: libc.umount2(b"/proc", 2))
SYS_init_module, SYS_finit_module, SYS_delete_module = 175, 313, 176
attempt("init_module", lambda: libc.syscall(SYS_init_module, None, 0, b""))
attempt("finit_module", lambda: libc.syscall(SYS_finit_module, os.open("/dev/null", os.O_RDONLY), b"", 0))
attempt("delete_module", lambda: libc.syscall(SYS_delete_module, b"ext4", 0))


class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


attempt("settimeofday", lambda: libc.settimeofday(ctypes.byref(timeval(1000000000, 0)), None))
attempt("clock_settime", lambda: libc.clock_settime(0, ctypes.byref(timeval(1000000000, 0))))
attempt("sethostname", lambda: libc.sethostname(b"evil", 4))
attempt("unshare_user", lambda: libc.unshare(0x10000000))
attempt("unshare_net", lambda: libc.unshare(0x40000000))
attempt("mknod_disk", lambda: libc.mknod(b"/tmp/sda", 0o060600, os.makedev(8, 0)))
attempt("open_init_exe_for_write", lambda: os.open("/proc/1/exe", os.O_WRONLY))
attempt("read_init_exe", lambda: os.open("/proc/1/exe", os.O_RDONLY))
attempt("ptrace_init", lambda: libc.ptrace(16, 1, None, None))
attempt("raw_io_ports", lambda: libc.iopl(3))
attempt("reboot", lambda: libc.reboot(0x4321FEDC))
attempt("swapoff", lambda: libc.swapoff(b"/dev/null"))
attempt("kexec_load", lambda: libc.syscall(246, 0, 0, None, 0))
attempt("bpf", lambda: libc.syscall(321, 0, None, 0))
attempt("io_uring_setup", lambda: libc.syscall(425, 8, ctypes.create_string_buffer(120)))
attempt("x32_getpid", lambda: libc.syscall(0x40000000 + 39))
attempt("syslog_clear", lambda: libc.klogctl(5, None, 0))
attempt("read_kcore", lambda: os.open("/proc/kcore", os.O_RDONLY) and os.read(os.open("/proc/kcore", os.O_RDONLY), 1))
# Masked page-info files read as empty (they are /dev/null inside); unmasked, root reads 8 bytes.
kpage = {}
for name in ("kpageflags", "kpagecount", "kpagecgroup"):
    try:
        with open("/proc/" + name, "rb") as f:
            kpage[name] = len(f.read(8))
    except OSError as e:
        kpage[name] = errno.errorcode.get(e.errno, str(e.errno))
report["kpage"] = kpage
for path in args["host_paths"]:
    attempt("write " + path, write_file(path, "x"))
print(json.dumps(report))
