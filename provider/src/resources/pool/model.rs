//! `pve_pool` state from PVE's answer (members are the guests' business, not state).

use super::names;
use crate::plugin::value::Value;
use crate::resources::access::text;

pub(super) fn state_from(pool: &pve_api::Pool) -> Value {
    Value::object([(names::POOL_ID, pool.poolid.clone().into()), (names::COMMENT, text(&pool.comment))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_stay_out_of_state() {
        let pool = pve_api::Pool { poolid: "lab".into(), comment: Some(String::new()), members: vec![Default::default()] };
        assert_eq!(state_from(&pool), Value::object([(names::POOL_ID, "lab".into()), (names::COMMENT, Value::Null)]));
    }
}
