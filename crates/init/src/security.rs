//! Locks init down before it serves requests, so every process it starts inherits the limits.
//!
//! Two layers, as in a default container: a seccomp filter that refuses the syscalls a sandbox
//! never needs (mounting, modules, kexec, clocks, raw I/O ports, new namespaces, ...), and a
//! capability bounding set reduced to the usual container set. `no_new_privs` stays off on
//! purpose: the default image's `sudo` is setuid and must keep working inside the bounds.

use crate::Failure;
use caps::{CapSet, Capability, CapsHashSet};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Capabilities a sandbox keeps: Docker's default set without `CAP_MKNOD` (a sandbox has no
/// business creating device nodes, and without a devices cgroup that would expose host disks).
const KEPT: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETPCAP,
    Capability::CAP_SETFCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_NET_RAW,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_AUDIT_WRITE,
];

/// Syscalls that fail with `EPERM` inside every sandbox.
const DENIED: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_lookup_dcookie,
    libc::SYS_syslog,
    libc::SYS_userfaultfd,
    libc::SYS_vhangup,
    libc::SYS_uselib,
    // io_uring runs I/O on kernel threads outside this filter's view (Docker denies it too).
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

/// `clone` flags that would create namespaces.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

pub(crate) fn lock_down() -> Result<(), Failure> {
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, so filters go first.
    for (what, program) in [("deny-list", deny_list()?), ("clone3", clone3_filter()?), ("x32", x32_filter())] {
        install(&program).map_err(|e| Failure::new(format!("install seccomp {what} filter"), e))?;
    }
    let kept: CapsHashSet = KEPT.iter().copied().collect();
    for cap in caps::all() {
        if !kept.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| Failure::new(format!("drop {cap} from bounding set"), e))?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| Failure::new("clear ambient capabilities", e))?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| Failure::new("clear inheritable capabilities", e))?;
    caps::set(None, CapSet::Effective, &kept).map_err(|e| Failure::new("set effective capabilities", e))?;
    caps::set(None, CapSet::Permitted, &kept).map_err(|e| Failure::new("set permitted capabilities", e))?;
    // Keep /proc/1 (and its exe link) out of reach of processes without CAP_SYS_PTRACE.
    nix::sys::prctl::set_dumpable(false).map_err(|e| Failure::new("clear dumpable", e))?;
    Ok(())
}

fn deny_list() -> Result<BpfProgram, Failure> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|nr| (*nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            let condition = SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(*flag), *flag)?;
            SeccompRule::new(vec![condition])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new("build seccomp clone rule", e))?;
    rules.insert(libc::SYS_clone, clone_rules);
    compile(rules, SeccompAction::Errno(libc::EPERM as u32))
}

/// `clone3` passes its flags in memory a filter cannot read; answering `ENOSYS` makes libc fall
/// back to `clone`, whose flags the deny-list checks.
fn clone3_filter() -> Result<BpfProgram, Failure> {
    let rules = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    compile(rules, SeccompAction::Errno(libc::ENOSYS as u32))
}

/// x32 system calls (numbers with bit 30 set, same architecture value) reach the kernel's entry
/// points under numbers the deny-list does not know; on a kernel built with x32 support they
/// would reopen every denied call. They answer `ENOSYS`, as on kernels without x32. Written by
/// hand because seccompiler matches exact numbers only: load the number, compare, answer.
#[cfg(target_arch = "x86_64")]
fn x32_filter() -> BpfProgram {
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code: u32, jt: u8, jf: u8, k: u32| sock_filter { code: code as u16, jt, jf, k };
    vec![
        // A = seccomp_data.nr (offset 0)
        op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
        // if A >= X32_SYSCALL_BIT: next instruction, else skip it
        op(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, 0, 1, X32_SYSCALL_BIT),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Other architectures have no x32-style alternate numbering: nothing to filter.
#[cfg(not(target_arch = "x86_64"))]
fn x32_filter() -> BpfProgram {
    let op = |code: u32, k: u32| sock_filter { code: code as u16, jt: 0, jf: 0, k };
    vec![op(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW)]
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<BpfProgram, Failure> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, target_arch()?)
        .map_err(|e| Failure::new("build seccomp filter", e))?;
    filter.try_into().map_err(|e: seccompiler::BackendError| Failure::new("compile seccomp filter", e))
}

fn target_arch() -> Result<TargetArch, Failure> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| Failure::new("pick seccomp architecture", e))
}

/// Installs a filter with the `seccomp` syscall directly. seccompiler's `apply_filter` would
/// also set `no_new_privs`, which breaks setuid `sudo` in the sandbox; init holds
/// `CAP_SYS_ADMIN` at this point, which the kernel accepts instead.
fn install(program: &BpfProgram) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| std::io::Error::other("seccomp program too long"))?,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at a live, well-formed BPF program for the duration of the call.
    let rc = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0u32, &fprog as *const libc::sock_fprog)
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
