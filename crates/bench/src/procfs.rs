//! Process accounting from Linux `/proc`: CPU time (`/proc/PID/stat` fields 14 and 15,
//! `utime` and `stime`, in clock ticks) and memory (`VmRSS`, `VmHWM` in `/proc/PID/status`).
//! See proc_pid_stat(5) and proc_pid_status(5).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Which process to read: ours or a child's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// `/proc/self`.
    This,
    /// `/proc/<pid>`.
    Other(u32),
}

impl Pid {
    fn dir(self) -> PathBuf {
        match self {
            Self::This => PathBuf::from("/proc/self"),
            Self::Other(pid) => PathBuf::from(format!("/proc/{pid}")),
        }
    }
}

/// User plus system CPU time the process has used so far.
pub fn cpu_time(pid: Pid) -> Result<Duration> {
    let path = pid.dir().join("stat");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let ticks = parse_stat_cpu_ticks(&text)?;
    Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
}

/// Resident memory now (`VmRSS`) and its peak (`VmHWM`), in bytes.
pub fn memory(pid: Pid) -> Result<Memory> {
    let path = pid.dir().join("status");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_status_memory(&text)
}

/// Resident set sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the peak resident size so far.
    pub peak: u64,
}

/// The kernel's `USER_HZ` (the unit of `utime` and `stime`).
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// `utime + stime` from the text of `/proc/PID/stat`. The second field (`comm`) is in
/// parentheses and may itself contain spaces and parentheses, so fields are counted after
/// the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Result<u64> {
    let Some(close) = stat.rfind(')') else {
        bail!("/proc stat line without a `(comm)` field");
    };
    // After `)`: field 3 (state) is index 0, so utime (14) is index 11 and stime (15) is 12.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |index: usize, name: &str| -> Result<u64> {
        fields
            .get(index)
            .with_context(|| format!("/proc stat line has no {name} field"))?
            .parse::<u64>()
            .with_context(|| format!("/proc stat {name} is not a number"))
    };
    Ok(field(11, "utime")? + field(12, "stime")?)
}

/// `VmRSS` and `VmHWM` from the text of `/proc/PID/status` (values in kB).
pub fn parse_status_memory(status: &str) -> Result<Memory> {
    let kib = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .with_context(|| format!("/proc status has no {name}"))?;
        let value = line.trim().trim_end_matches("kB").trim();
        let kib: u64 = value
            .parse()
            .with_context(|| format!("/proc status {name} is not a number: {value:?}"))?;
        Ok(kib * 1024)
    };
    Ok(Memory {
        rss: kib("VmRSS")?,
        peak: kib("VmHWM")?,
    })
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    let per_second = per_second.max(1);
    Duration::from_secs(ticks / per_second)
        + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_comm_with_spaces_and_parentheses() {
        let line = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 37 5 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(line).unwrap(), 42);
    }

    #[test]
    fn a_truncated_stat_line_is_an_error_not_a_panic() {
        assert!(parse_stat_cpu_ticks("1 (x) S 1 2").is_err());
        assert!(parse_stat_cpu_ticks("no comm here").is_err());
    }

    #[test]
    fn memory_lines_are_read_in_kibibytes() {
        let status = "Name:\tauth-server\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status_memory(status).unwrap(),
            Memory {
                rss: 10240 * 1024,
                peak: 20480 * 1024
            }
        );
        assert!(parse_status_memory("Name:\tx\n").is_err());
    }

    #[test]
    fn ticks_convert_to_durations() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(1, 3), Duration::from_nanos(333_333_333));
    }

    /// The parsers read the real `/proc/self` of this test process.
    #[test]
    fn this_process_has_memory_and_cpu_time_that_grows() {
        let memory = memory(Pid::This).unwrap();
        assert!(memory.rss > 0);
        assert!(memory.peak >= memory.rss);
        let before = cpu_time(Pid::This).unwrap();
        // Burn CPU until the tick counter moves (it has 1/USER_HZ granularity).
        let mut x = 0u64;
        let mut after = before;
        while after <= before {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            after = cpu_time(Pid::This).unwrap();
        }
        assert!(after > before);
        let own = std::process::id();
        assert!(memory_of_pid_matches_self(own));
    }

    fn memory_of_pid_matches_self(pid: u32) -> bool {
        crate::procfs::memory(Pid::Other(pid)).is_ok_and(|m| m.rss > 0)
    }
}
