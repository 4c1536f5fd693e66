//! What a process in a sandbox can see and do: the probe in `probe.py` reports, these tests judge.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{ExecSpec, ExitStatus};
use std::io::Write;

/// Runs the probe as root in `id`, telling it which host paths to look for.
fn probe(fx: &Fixture, id: &sandbar_runtime::SandboxId, host_paths: &[String]) -> serde_json::Value {
    let args = serde_json::json!({ "host_paths": host_paths }).to_string();
    let mut exec = ExecSpec::new(["python3", "-", &args]);
    exec.user = Some("root".into());
    let mut process = fx.runtime.exec(id, &exec).unwrap();
    process.stdin.take().unwrap().write_all(include_bytes!("probe.py")).unwrap();
    let out = process.output().unwrap();
    assert_eq!(out.status, ExitStatus::Code(0), "probe failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("probe output {:?}: {e}", stdout(&out)))
}

fn denied(report: &serde_json::Value, key: &str) -> String {
    let value = report[key].as_str().unwrap_or_else(|| panic!("probe did not try {key}: {report}"));
    assert_ne!(value, "ok", "{key} succeeded inside the sandbox");
    value.to_string()
}

#[test]
fn probe_cannot_see_or_change_the_host() {
    let fx = Fixture::new("probe");
    let id = fx.default_sandbox("a");
    let neighbour = fx.default_sandbox("b");
    // A file in the neighbour, plus markers in places of the host the sandbox must not see.
    assert_eq!(fx.sh(&neighbour, "echo secret > /home/daytona/neighbour-secret").status, ExitStatus::Code(0));
    let marker_name = format!("sandbar-probe-{}", std::process::id());
    let markers = [
        std::env::temp_dir().join(&marker_name),
        std::path::PathBuf::from("/root").join(&marker_name),
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(&marker_name),
    ];
    for marker in &markers {
        std::fs::write(marker, "host").unwrap();
    }
    let mut host_paths: Vec<String> = markers.iter().map(|p| p.display().to_string()).collect();
    host_paths.push(env!("CARGO_MANIFEST_DIR").to_string());
    host_paths.push(fx.data.path().display().to_string());
    host_paths.push(fx.runtime.upper_dir(&neighbour).display().to_string());
    host_paths.push("/home/daytona/neighbour-secret".to_string());
    host_paths.push(std::env::current_exe().unwrap().display().to_string());
    let host_name = nix::unistd::gethostname().unwrap();

    let report = probe(&fx, &id, &host_paths);
    // The probe wrote to every host path it was told about; only sandbox-private copies changed.
    let contents: Vec<String> = markers.iter().map(|m| std::fs::read_to_string(m).unwrap_or_default()).collect();
    for marker in &markers {
        let _ = std::fs::remove_file(marker);
    }
    assert!(contents.iter().all(|c| c == "host"), "a host file was changed from the sandbox: {contents:?}");

    // Only the sandbox's own processes: init as PID 1, the probe, nothing of the host.
    let comms = report["comms"].as_object().unwrap();
    assert_eq!(comms["1"], "sandbar-init", "{comms:?}");
    assert!(comms.len() <= 3, "sandbox sees foreign processes: {comms:?}");
    assert_eq!(report["visible_paths"], serde_json::json!([]), "host or neighbour paths visible");
    let host_shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    assert_ne!(report["shadow"].as_str().unwrap(), host_shadow, "the sandbox reads the host's /etc/shadow");

    for key in [
        "write_sys",
        "write_proc_sys",
        "write_sysrq",
        "mount_tmpfs",
        "mount_proc",
        "umount_proc",
        "init_module",
        "finit_module",
        "delete_module",
        "settimeofday",
        "clock_settime",
        "sethostname",
        "unshare_user",
        "unshare_net",
        "mknod_disk",
        "open_init_exe_for_write",
        "read_init_exe",
        "ptrace_init",
        "raw_io_ports",
        "reboot",
        "swapoff",
        "kexec_load",
        "bpf",
        "io_uring_setup",
        "x32_getpid",
        "syslog_clear",
        "read_kcore",
    ] {
        denied(&report, key);
    }
    // Host-wide physical memory information is masked (reads as empty), not merely unreadable.
    for name in ["kpageflags", "kpagecount", "kpagecgroup"] {
        let read = &report["kpage"][name];
        assert!(read == 0 || read.as_str().is_some_and(|e| e.starts_with('E')), "/proc/{name} leaked data: {read}");
    }
    assert_eq!(report["Seccomp"], "2", "a seccomp filter is installed");
    // The filter answers these itself (not the kernel rejecting odd arguments).
    assert_eq!(denied(&report, "io_uring_setup"), "EPERM");
    assert_eq!(denied(&report, "x32_getpid"), "ENOSYS");
    // Docker's default set without CAP_MKNOD: chown, dac_override, fowner, fsetid, kill,
    // setgid, setuid, setpcap, net_bind_service, net_raw, sys_chroot, audit_write, setfcap.
    assert_eq!(report["CapBnd"], "00000000a00425fb", "bounding set");
    assert_eq!(nix::unistd::gethostname().unwrap(), host_name, "the host's hostname is unchanged");
}

#[test]
fn sandbox_has_its_own_hostname_network_and_devices() {
    let fx = Fixture::new("ns");
    let id = fx.default_sandbox("a");
    let out = fx.sh(
        &id,
        "hostname; ip -o link | cut -d: -f2 | tr -d ' '; ls /dev | tr '\\n' ' '; echo; \
         findmnt -n -o FSTYPE /tmp; findmnt -n -o OPTIONS /sys | cut -d, -f1; ls /dev/pts",
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], id.as_str(), "{text}");
    assert_eq!(lines[1], "lo", "only loopback: {text}");
    for device in ["null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm"] {
        assert!(lines[2].split_whitespace().any(|d| d == device), "/dev lacks {device}: {text}");
    }
    assert!(!lines[2].contains("sda") && !lines[2].contains("vda") && !lines[2].contains("kmsg"), "{text}");
    assert_eq!(lines[3], "tmpfs", "{text}");
    assert_eq!(lines[4], "ro", "{text}");
    let out = fx.sh(&id, "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"loopback ok\")'");
    assert_eq!(stdout(&out), "loopback ok\n", "{:?}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_sandbox_resolves_its_own_hostname_and_keeps_its_hosts_lines() {
    let fx = Fixture::new("hosts");
    let id = fx.default_sandbox("a");
    let resolve = "python3 -c 'import socket; print(socket.gethostbyname(socket.gethostname()))'";
    assert_eq!(stdout(&fx.sh(&id, resolve)), "127.0.1.1\n");
    let out = fx.sh_as(&id, Some("daytona"), "sudo true && echo ok");
    assert_eq!(stdout(&out), "ok\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unable to resolve host"), "sudo warned: {stderr}");

    // A line of the sandbox's own stays over a restart; init's lines are not repeated.
    fx.sh_as(&id, Some("root"), "echo '10.9.8.7 db.internal' >> /etc/hosts");
    fx.runtime.stop(&id, std::time::Duration::ZERO).unwrap();
    fx.runtime.start(&id).unwrap();
    let hosts = stdout(&fx.sh(&id, "cat /etc/hosts"));
    assert!(hosts.contains("10.9.8.7 db.internal"), "{hosts}");
    assert_eq!(hosts.matches(id.as_str()).count(), 1, "{hosts}");

    // A symlink at /etc/hosts is replaced by a file, never written through.
    fx.sh_as(&id, Some("root"), "cp /etc/passwd /root/passwd.before; ln -sf /etc/passwd /etc/hosts");
    fx.runtime.stop(&id, std::time::Duration::ZERO).unwrap();
    fx.runtime.start(&id).unwrap();
    let check = "test -L /etc/hosts && echo link; cmp -s /etc/passwd /root/passwd.before && echo same; \
                 grep -q localhost /etc/hosts && echo has-localhost";
    assert_eq!(stdout(&fx.sh_as(&id, Some("root"), check)), "same\nhas-localhost\n");
}

/// Runs `test -e path` as the unprivileged user nobody on the host; whether it saw the file.
fn nobody_sees(path: &std::path::Path) -> bool {
    let status = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "test", "-e"])
        .arg(path)
        .status()
        .expect("run setpriv (util-linux)");
    status.success()
}

#[test]
fn a_setuid_file_made_in_a_sandbox_is_out_of_reach_of_local_users() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new("suid");
    let id = fx.default_sandbox("a");
    let out = fx.sh_as(&id, Some("root"), "cp /bin/sh /root/rootshell && chmod 4755 /root/rootshell && echo made");
    assert_eq!(stdout(&out), "made\n", "{}", String::from_utf8_lossy(&out.stderr));
    let planted = fx.runtime.upper_dir(&id).join("root/rootshell");
    assert!(planted.exists(), "the file is in the sandbox's layer on the host: {}", planted.display());
    assert!(!nobody_sees(&planted), "a local user reaches a setuid-root file of a sandbox: {}", planted.display());
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(fx.data.path()), 0o700, "the data directory is private");
    assert_eq!(mode(fx.runtime.images().root()), 0o700, "the image store is private");
}

#[test]
fn the_data_disk_is_mounted_nosuid_and_nodev() {
    let fx = Fixture::with_disk("suid-disk", Some(1 << 30));
    let sandboxes = fx.data.path().join("sandboxes");
    let out = std::process::Command::new("findmnt")
        .args(["-n", "-o", "OPTIONS", "--mountpoint"])
        .arg(&sandboxes)
        .output()
        .unwrap();
    let options = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(options.split(',').any(|o| o.trim() == "nosuid"), "{options}");
    assert!(options.split(',').any(|o| o.trim() == "nodev"), "{options}");
}
