//! Facts about the host: CPU count, memory, kernel, OS image, machine and boot ids, and
//! its IP address. Parsers are pure; readers fall back to empty strings.

use std::net::{IpAddr, UdpSocket};

/// Number of `processor` entries in `/proc/cpuinfo` text.
pub(crate) fn count_cpus(cpuinfo: &str) -> i64 {
    let n = cpuinfo.lines().filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor")).count();
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `MemTotal` of `/proc/meminfo` text, in bytes.
pub(crate) fn mem_total(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// `PRETTY_NAME` of `/etc/os-release` text.
pub(crate) fn os_image(os_release: &str) -> Option<String> {
    let line = os_release.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line.trim_start_matches("PRETTY_NAME=").trim_matches('"').to_owned())
}

/// The Go name of this architecture, as Kubernetes labels use it.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// System facts for `nodeInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SystemInfo {
    pub(crate) kernel_version: String,
    pub(crate) os_image: String,
    pub(crate) machine_id: String,
    pub(crate) boot_id: String,
    pub(crate) system_uuid: String,
}

pub(crate) fn system_info() -> SystemInfo {
    SystemInfo {
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
        os_image: std::fs::read_to_string("/etc/os-release").ok().and_then(|t| os_image(&t)).unwrap_or_default(),
        machine_id: read_trimmed("/etc/machine-id"),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        system_uuid: read_trimmed("/sys/class/dmi/id/product_uuid"),
    }
}

/// The address the host would use to reach the outside (no packet is sent), else loopback.
pub(crate) fn default_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.connect("10.255.255.255:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe().ok().filter(|ip| !ip.is_unspecified()).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The host's name.
pub(crate) fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(count_cpus("processor\t: 0\nmodel\t: x\n\nprocessor\t: 1\n"), 2);
        assert_eq!(mem_total("MemTotal:       16314500 kB\nMemFree: 1 kB\n"), Some(16_314_500 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(os_image("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n").as_deref(), Some("Debian GNU/Linux 12"));
    }
}
