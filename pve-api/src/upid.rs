//! Unique process IDs of PVE tasks:
//! `UPID:<node>:<pid %08X>:<pstart %08X>:<starttime %08X>:<type>:<id>:<user>:`.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

static UPID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$",
    )
    .expect("static regex")
});

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    pub task_type: String,
    pub id: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid UPID: '{0}'")]
pub struct InvalidUpid(pub String);

impl FromStr for Upid {
    type Err = InvalidUpid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidUpid(s.to_string());
        let caps = UPID_RE.captures(s).ok_or_else(invalid)?;
        let hex = |i: usize| u64::from_str_radix(&caps[i], 16).map_err(|_| invalid());
        Ok(Upid {
            node: caps[1].to_string(),
            pid: u32::try_from(hex(3)?).map_err(|_| invalid())?,
            pstart: hex(4)?,
            starttime: i64::try_from(hex(5)?).map_err(|_| invalid())?,
            task_type: caps[6].to_string(),
            id: caps[7].to_string(),
            user: caps[8].to_string(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.task_type, self.id, self.user
        )
    }
}

impl TryFrom<String> for Upid {
    type Error = InvalidUpid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Upid> for String {
    fn from(value: Upid) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_clone_task() {
        let text = "UPID:pve1:0002A3F1:01B2C3D4:6740A1B2:qmclone:9000:root@pam!terraform:";
        let upid: Upid = text.parse().unwrap();
        assert_eq!(upid.node, "pve1");
        assert_eq!(upid.pid, 0x2A3F1);
        assert_eq!(upid.task_type, "qmclone");
        assert_eq!(upid.id, "9000");
        assert_eq!(upid.user, "root@pam!terraform");
        assert_eq!(upid.to_string(), text);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "UPID:pve1:1:2:3:x:y:z:",
            "UPID:pve1:0002A3F1:01B2C3D4:6740A1B2:qmclone:9000:root@pam",
            "PID:pve1:0002A3F1:01B2C3D4:6740A1B2:a::u:",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
        // An empty id is allowed (cluster-wide tasks).
        assert!("UPID:pve1:0002A3F1:01B2C3D4:6740A1B2:vzdump::root@pam:".parse::<Upid>().is_ok());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(pid in any::<u32>(), pstart in 0u64..0xFFFF_FFFF, start in 0i64..0xFFFF_FFFF,
                                   ty in "[a-z]{1,10}", id in "[0-9]{0,9}", user in "[a-z]{1,8}@pam") {
            let upid = Upid { node: "pve2".into(), pid, pstart, starttime: start, task_type: ty, id, user };
            prop_assert_eq!(upid.to_string().parse::<Upid>().unwrap(), upid);
        }

        #[test]
        fn parse_never_panics(s in "UPID:.{0,60}") {
            let _ = s.parse::<Upid>();
        }
    }
}
