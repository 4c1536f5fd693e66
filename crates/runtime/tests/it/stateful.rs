//! Snapshots and forks: contents, independence, and the sandbox going on unchanged.

use crate::common::{stdout, Fixture};
use sandbar_runtime::{SandboxSpec, SandboxState};
use std::time::Duration;

#[test]
fn snapshot_of_a_stopped_sandbox_becomes_an_image() {
    let fx = Fixture::new("snap");
    let id = fx.default_sandbox("a");
    assert_eq!(stdout(&fx.sh_as(&id, Some("root"), "echo snap > /etc/snapped; rm /etc/issue; echo ok")), "ok\n");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let name = format!("snap-test-{}", std::process::id());
    let image = fx.runtime.snapshot(&id, &name).unwrap();
    assert_eq!(image.layers.len(), 2, "the writable layer became the top layer: {image:?}");
    assert!(std::fs::read_dir(fx.runtime.upper_dir(&id)).unwrap().next().is_none(), "a fresh writable layer");

    // The original sees its files unchanged, deletions included.
    fx.runtime.start(&id).unwrap();
    assert_eq!(
        stdout(&fx.sh(&id, "cat /etc/snapped; test -e /etc/issue && echo present || echo gone")),
        "snap\ngone\n"
    );
    // A new sandbox from the image starts with them too, and its writes stay its own.
    let copy = fx.started("b", &SandboxSpec::new(name.clone()));
    assert_eq!(
        stdout(&fx.sh(&copy, "cat /etc/snapped; test -e /etc/issue && echo present || echo gone")),
        "snap\ngone\n"
    );
    fx.sh_as(&copy, Some("root"), "echo changed > /etc/snapped");
    assert_eq!(stdout(&fx.sh(&id, "cat /etc/snapped")), "snap\n");
    // The image cannot go while a sandbox uses it; then it goes with its snapshot layer.
    assert!(fx.runtime.delete_image(&name).is_err());
    fx.runtime.delete_all().unwrap();
    fx.runtime.delete_image(&name).unwrap();
    assert!(!fx.runtime.images().layer_path(&image.layers[1]).exists());
}

#[test]
fn forks_start_with_a_copy_and_never_see_each_others_writes() {
    let fx = Fixture::new("fork");
    let id = fx.default_sandbox("a");
    fx.sh(&id, "echo original > /home/daytona/file; ln -s file /home/daytona/link; rm /home/daytona/.bashrc");
    // Fork while running (frozen during the copy), then fork the stopped sandbox.
    let running_fork = fx.id("b");
    fx.runtime.fork(&id, &running_fork).unwrap();
    assert_eq!(fx.runtime.state(&id).unwrap(), SandboxState::Running, "the source keeps running");
    fx.runtime.stop(&id, Duration::ZERO).unwrap();
    let stopped_fork = fx.id("c");
    fx.runtime.fork(&id, &stopped_fork).unwrap();
    for fork in [&running_fork, &stopped_fork] {
        fx.runtime.start(fork).unwrap();
        let out = fx.sh(fork, "cat /home/daytona/link; test -e /home/daytona/.bashrc && echo present || echo gone");
        assert_eq!(stdout(&out), "original\ngone\n");
        fx.sh(fork, &format!("echo {fork} > /home/daytona/file"));
    }
    fx.runtime.start(&id).unwrap();
    assert_eq!(stdout(&fx.sh(&id, "cat /home/daytona/file")), "original\n");
    assert_eq!(stdout(&fx.sh(&running_fork, "cat /home/daytona/file")), format!("{running_fork}\n"));
    assert!(matches!(fx.runtime.fork(&id, &running_fork), Err(sandbar_runtime::Error::AlreadyExists { .. })));
}
