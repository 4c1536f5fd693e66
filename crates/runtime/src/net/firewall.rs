//! The host firewall for sandbox networking: one nftables table of Sandbar's own (`inet sandbar`,
//! or `inet sandbar_<instance>`), built as typed `nftables` JSON and applied through `nft -j` in
//! one transaction. It keeps every sandbox away from the host's own services, from other
//! sandboxes, from link-local and metadata addresses and from the host's other networks, rejects
//! (never silently drops) what it refuses, and masquerades the rest to the outside.
//!
//! Nothing here depends on a particular sandbox: open sandboxes need no element, so their start
//! makes no `nft` call. The whole table is replaced atomically (`add; delete; add ...` in one
//! transaction), so there is no moment without the guards, also while sandboxes run.

use ipnet::Ipv4Net;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Set, SetFlag, SetType, SetTypeValue, Table};
use nftables::stmt::{JumpTarget, Match, Operator, Reject, RejectType, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};
use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Destinations no sandbox reaches unless the operator allows them: "this network", private,
/// shared (CGNAT), loopback, link-local (cloud metadata), IETF protocol, multicast and reserved
/// ranges. The host's directly connected networks are added at start.
pub(crate) const NEVER_REACHABLE: [(Ipv4Addr, u8); 10] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Everything the ruleset is made from.
#[derive(Debug, Clone)]
pub(crate) struct Ruleset {
    /// The table's name (`sandbar` or `sandbar_<instance>`).
    pub(crate) table: String,
    /// Host-side sandbox links are named `<link_prefix><slot>`.
    pub(crate) link_prefix: String,
    /// Sandbar's address range.
    pub(crate) range: Ipv4Net,
    /// The gateway and resolver address.
    pub(crate) gateway: Ipv4Addr,
    /// Unreachable destinations: [`NEVER_REACHABLE`] and the host's connected networks.
    pub(crate) never: Vec<Ipv4Net>,
    /// What the operator allows despite `never` (`--network-allow`).
    pub(crate) allowed: Vec<Ipv4Net>,
}

const DENY: &str = "deny";
const EGRESS: &str = "egress";

impl Ruleset {
    /// The transaction that replaces the table with this ruleset (creating it if missing).
    pub(crate) fn replace(&self) -> Nftables<'static> {
        let mut batch = Batch::new();
        // `add` first, so the `delete` never fails on a missing table.
        batch.add(NfListObject::Table(self.table_object()));
        batch.delete(NfListObject::Table(self.table_object()));
        batch.add(NfListObject::Table(self.table_object()));
        self.add_contents(&mut batch);
        batch.to_nftables()
    }

    /// The transaction that removes the table.
    pub(crate) fn remove(&self) -> Nftables<'static> {
        let mut batch = Batch::new();
        batch.add(NfListObject::Table(self.table_object()));
        batch.delete(NfListObject::Table(self.table_object()));
        batch.to_nftables()
    }

    fn table_object(&self) -> Table<'static> {
        Table { family: NfFamily::INet, name: self.table.clone().into(), handle: None }
    }

    fn add_contents(&self, batch: &mut Batch<'static>) {
        batch.add(self.set("never4", &self.never, true));
        batch.add(self.set("allowed_nets4", &self.allowed, true));

        let base = |name: &str, hook: NfHook, kind: NfChainType, prio: i32| Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.to_string().into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        };
        let plain = |name: &str| Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.to_string().into(),
            ..Chain::default()
        };
        // Priorities: raw is -300, filter 0 and srcnat 100. The filter chains run just before
        // other filter tables' chains; a drop elsewhere still drops (a drop is final anywhere).
        batch.add(NfListObject::Chain(base("prerouting", NfHook::Prerouting, NfChainType::Filter, -300)));
        batch.add(NfListObject::Chain(base("input", NfHook::Input, NfChainType::Filter, -1)));
        batch.add(NfListObject::Chain(base("forward", NfHook::Forward, NfChainType::Filter, -1)));
        batch.add(NfListObject::Chain(plain(EGRESS)));
        batch.add(NfListObject::Chain(plain(DENY)));
        batch.add(NfListObject::Chain(base("postrouting", NfHook::Postrouting, NfChainType::NAT, 100)));

        let from_sandbox = || is(meta(MetaKey::Iifname), text(&self.wildcard()));
        let to_sandbox = || is(meta(MetaKey::Oifname), text(&self.wildcard()));
        let gateway = || is(field("ip", "daddr"), text(&self.gateway.to_string()));
        let rules: Vec<(&str, Vec<Statement<'static>>)> = vec![
            // A packet whose source address is not routed back through the link it came in on
            // is spoofed: the address a packet carries proves which sandbox sent it.
            ("prerouting", vec![from_sandbox(), is(fib_source_route(), Expression::Boolean(false)), drop()]),
            // Of the host, a sandbox reaches only the resolver.
            ("input", vec![from_sandbox(), gateway(), is(field("udp", "dport"), Expression::Number(53)), accept()]),
            ("input", vec![from_sandbox(), gateway(), is(field("tcp", "dport"), Expression::Number(53)), accept()]),
            ("input", vec![from_sandbox(), goto(DENY)]),
            // The resolver is for sandboxes only.
            ("input", vec![gateway(), drop()]),
            ("forward", vec![from_sandbox(), jump(EGRESS)]),
            // Nothing outside opens a connection to a sandbox; answers to its own go through.
            ("forward", vec![to_sandbox(), ct_state(&["established", "related"]), accept()]),
            ("forward", vec![to_sandbox(), drop()]),
            // Sandboxes have no IPv6 (it is off in their namespace); this holds if one tried.
            (EGRESS, vec![is(meta(MetaKey::Nfproto), text("ipv6")), goto(DENY)]),
            (EGRESS, vec![is(field("ip", "daddr"), prefix(self.range)), goto(DENY)]),
            (EGRESS, vec![is(field("ip", "daddr"), text("@allowed_nets4")), accept()]),
            (EGRESS, vec![is(field("ip", "daddr"), text("@never4")), goto(DENY)]),
            (EGRESS, vec![accept()]),
            // Refuse loudly: a reset for TCP, ICMP administratively prohibited for the rest,
            // so a client fails at once instead of waiting for its timeout.
            (DENY, vec![is(meta(MetaKey::L4proto), text("tcp")), reject(RejectType::TCPReset, None)]),
            (DENY, vec![reject(RejectType::ICMPX, Some(RejectCode::AdminProhibited))]),
            (
                "postrouting",
                vec![
                    is(field("ip", "saddr"), prefix(self.range)),
                    isnt(meta(MetaKey::Oifname), text(&self.wildcard())),
                    Statement::Masquerade(None),
                ],
            ),
        ];
        for (chain, expr) in rules {
            batch.add(NfListObject::Rule(Rule {
                family: NfFamily::INet,
                table: self.table.clone().into(),
                chain: chain.to_string().into(),
                expr: expr.into(),
                ..Rule::default()
            }));
        }
    }

    fn wildcard(&self) -> String {
        format!("{}*", self.link_prefix)
    }

    fn set(&self, name: &str, nets: &[Ipv4Net], interval: bool) -> NfListObject<'static> {
        let elem: Vec<Expression<'static>> = nets.iter().map(|net| prefix(*net)).collect();
        NfListObject::Set(Box::new(Set {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.to_string().into(),
            set_type: SetTypeValue::Single(SetType::Ipv4Addr),
            flags: interval.then(|| HashSet::from([SetFlag::Interval])),
            elem: (!elem.is_empty()).then(|| Cow::Owned(elem)),
            ..Set::default()
        }))
    }
}

fn text(value: &str) -> Expression<'static> {
    Expression::String(value.to_string().into())
}

fn prefix(net: Ipv4Net) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text(&net.network().to_string())),
        len: u32::from(net.prefix_len()),
    }))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn field(protocol: &str, name: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.to_string().into(),
        field: name.to_string().into(),
    })))
}

fn fib_source_route() -> Expression<'static> {
    Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Oif,
        flags: HashSet::from([FibFlag::Saddr, FibFlag::Iif]),
    }))
}

fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn isnt(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::NEQ })
}

fn ct_state(states: &[&str]) -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::CT(nftables::expr::CT {
            key: "state".into(),
            family: None,
            dir: None,
        })),
        right: Expression::List(states.iter().map(|s| text(s)).collect()),
        op: Operator::IN,
    })
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

fn goto(chain: &str) -> Statement<'static> {
    Statement::Goto(JumpTarget { target: chain.to_string().into() })
}

fn jump(chain: &str) -> Statement<'static> {
    Statement::Jump(JumpTarget { target: chain.to_string().into() })
}

fn reject(kind: RejectType, code: Option<RejectCode>) -> Statement<'static> {
    Statement::Reject(Some(Reject::new(Some(kind), code)))
}
