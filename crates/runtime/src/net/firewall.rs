//! The host firewall for sandbox networking: one nftables table of Sandbar's own (`inet sandbar`,
//! or `inet sandbar_<instance>`), built as typed `nftables` JSON and applied through `nft -j` in
//! one transaction. It keeps every sandbox away from the host's own services, from other
//! sandboxes, from link-local and metadata addresses and from the host's other networks, rejects
//! (never silently drops) what it refuses, and masquerades the rest to the outside.
//!
//! Open sandboxes need no element, so their start makes no `nft` call. A restricted sandbox has
//! an element in `blocked4` (block-all) or, for allow lists, an element in the verdict map
//! `restricted4` that sends its packets to a chain and two sets of its own (`sandbox_<slot>`,
//! `cidr_<slot>`, `dns_<slot>`). A policy change is one transaction that clears the slot's
//! objects and adds the new ones, so it never applies halfway. The whole table is replaced
//! atomically (`add; delete; add ...` in one transaction), with every running sandbox's
//! objects, so there is no moment without the guards, also while sandboxes run.
//!
//! The crate's typed schema lacks two things nft has: a verdict map's type and a set whose
//! elements carry counters. Those two declarations are written as JSON literals beside the
//! typed commands ([`Transaction::raw`]).

use crate::spec::EgressPolicy;
use ipnet::Ipv4Net;
use nftables::expr::{
    Elem, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, Verdict,
};
use nftables::schema::{
    Chain, Element, FlushObject, NfCmd, NfListObject, NfObject, Rule, Set, SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{JumpTarget, Log, Mangle, Match, Operator, Reject, RejectType, Statement, VerdictMap};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};
use serde_json::{json, Value};
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
    /// The NFLOG group denied packets are logged to (rate-limited).
    pub(crate) log_group: u16,
}

/// One sandbox address's state in the table: its denied-packet counter and, unless open, its
/// policy under a generation (the conntrack mark of the flows its DNS admits opened).
#[derive(Debug, Clone)]
pub(crate) struct SlotRules {
    pub(crate) slot: u32,
    pub(crate) address: Ipv4Addr,
    pub(crate) policy: EgressPolicy,
    pub(crate) generation: u32,
}

const DENY: &str = "deny";
const EGRESS: &str = "egress";
const POLICIES: &str = "policies";
const BLOCKED: &str = "blocked4";
const RESTRICTED: &str = "restricted4";
const DENIED: &str = "denied4";
const LINKS: &str = "links4";

/// One `nft -j` transaction: typed commands, and the few JSON literals the typed schema cannot
/// express, in order.
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    commands: Vec<Value>,
}

impl Transaction {
    fn add(&mut self, object: NfListObject<'static>) {
        self.typed(NfCmd::Add(object));
    }

    fn delete(&mut self, object: NfListObject<'static>) {
        self.typed(NfCmd::Delete(object));
    }

    fn typed(&mut self, command: NfCmd<'static>) {
        self.commands.push(serde_json::to_value(NfObject::CmdObject(command)).expect("nft commands serialise"));
    }

    fn raw(&mut self, command: Value) {
        self.commands.push(command);
    }

    /// The JSON document `nft -j -f -` reads.
    pub(crate) fn payload(&self) -> String {
        json!({ "nftables": self.commands }).to_string()
    }
}

impl Ruleset {
    /// The transaction that replaces the table with this ruleset (creating it if missing), with
    /// the state of every sandbox address in `slots`.
    pub(crate) fn replace(&self, slots: &[SlotRules]) -> Transaction {
        let mut tx = Transaction::default();
        // `add` first, so the `delete` never fails on a missing table.
        tx.add(NfListObject::Table(self.table_object()));
        tx.delete(NfListObject::Table(self.table_object()));
        tx.add(NfListObject::Table(self.table_object()));
        self.add_contents(&mut tx);
        for rules in slots {
            tx.add(self.element(DENIED, vec![text(&rules.address.to_string())]));
            self.add_policy(&mut tx, rules);
        }
        tx
    }

    /// The transaction that removes the table.
    pub(crate) fn remove(&self) -> Transaction {
        let mut tx = Transaction::default();
        tx.add(NfListObject::Table(self.table_object()));
        tx.delete(NfListObject::Table(self.table_object()));
        tx
    }

    /// Makes sure a sandbox address has its denied-packet counter. The element stays for the
    /// table's life (one per address ever used, at most the range): deleting anything makes
    /// the kernel's commit wait for an RCU grace period (about 15 ms here), adding does not, so
    /// a reused address keeps counting and readers subtract the count it started with.
    pub(crate) fn counted(&self, address: Ipv4Addr) -> Transaction {
        let mut tx = Transaction::default();
        tx.add(self.element(DENIED, vec![text(&address.to_string())]));
        tx
    }

    /// Sets the policy of a sandbox address: clears whatever the slot had (when `had_objects`:
    /// a slot that never had a policy has nothing to clear, and then the transaction only adds,
    /// which is fast), then adds `rules`.
    pub(crate) fn set_policy(&self, rules: &SlotRules, had_objects: bool) -> Transaction {
        let mut tx = Transaction::default();
        if had_objects {
            self.clear_slot(&mut tx, rules.slot, rules.address);
        }
        self.add_policy(&mut tx, rules);
        tx
    }

    /// Removes a sandbox address's links with `peers` and, when `had_objects`, its policy
    /// objects. Its counter stays (see [`Ruleset::counted`]).
    pub(crate) fn release(&self, slot: u32, address: Ipv4Addr, peers: &[Ipv4Addr], had_objects: bool) -> Transaction {
        let mut tx = self.unlink(address, peers);
        if had_objects {
            self.clear_slot(&mut tx, slot, address);
        }
        tx
    }

    /// Admits `addresses` (with their timeouts in seconds) for the domain-allowed connections
    /// of the sandbox in `slot`.
    pub(crate) fn admit(&self, slot: u32, addresses: &[(Ipv4Addr, u32)]) -> Transaction {
        let mut tx = Transaction::default();
        let elements = addresses
            .iter()
            .map(|(address, timeout)| {
                Expression::Named(NamedExpression::Elem(Elem {
                    val: Box::new(text(&address.to_string())),
                    timeout: Some(*timeout),
                    expires: None,
                    comment: None,
                    counter: None,
                }))
            })
            .collect();
        tx.add(self.element(&dns_set(slot), elements));
        tx
    }

    /// Lets two linked sandboxes reach each other (both directions).
    pub(crate) fn link(&self, a: Ipv4Addr, b: Ipv4Addr) -> Transaction {
        let mut tx = Transaction::default();
        tx.add(self.element(LINKS, vec![pair(a, b), pair(b, a)]));
        tx
    }

    /// Ends the links of `a` with each of `peers`.
    pub(crate) fn unlink(&self, a: Ipv4Addr, peers: &[Ipv4Addr]) -> Transaction {
        let mut tx = Transaction::default();
        let elements: Vec<Expression<'static>> = peers.iter().flat_map(|b| [pair(a, *b), pair(*b, a)]).collect();
        if !elements.is_empty() {
            tx.add(self.element(LINKS, elements.clone()));
            tx.delete(self.element(LINKS, elements));
        }
        tx
    }

    /// The name of the set holding the sandbox addresses' denied-packet counters.
    pub(crate) fn denied_set(&self) -> &'static str {
        DENIED
    }

    /// Every per-slot object, present or not, made absent: adding first makes each delete
    /// valid, and the transaction as a whole either applies or changes nothing.
    fn clear_slot(&self, tx: &mut Transaction, slot: u32, address: Ipv4Addr) {
        let chain = sandbox_chain(slot);
        tx.add(NfListObject::Chain(self.chain(&chain)));
        tx.add(self.set(&cidr_set(slot), &[], true));
        tx.add(self.dns_set_object(slot));
        let key = || text(&address.to_string());
        tx.add(self.element(BLOCKED, vec![key()]));
        tx.delete(self.element(BLOCKED, vec![key()]));
        tx.add(self.element(RESTRICTED, vec![self.restricted_entry(slot, address)]));
        tx.delete(self.element(RESTRICTED, vec![key()]));
        tx.typed(NfCmd::Flush(FlushObject::Chain(self.chain(&chain))));
        tx.delete(NfListObject::Chain(self.chain(&chain)));
        tx.delete(self.set(&cidr_set(slot), &[], true));
        tx.delete(self.dns_set_object(slot));
    }

    fn add_policy(&self, tx: &mut Transaction, rules: &SlotRules) {
        let policy = &rules.policy;
        let key = text(&rules.address.to_string());
        if policy.block_all {
            tx.add(self.element(BLOCKED, vec![key]));
            return;
        }
        if policy.is_open() {
            return;
        }
        let slot = rules.slot;
        let chain = sandbox_chain(slot);
        tx.add(self.set(&cidr_set(slot), &Ipv4Net::aggregate(&policy.allow_cidrs), true));
        tx.add(self.dns_set_object(slot));
        tx.add(NfListObject::Chain(self.chain(&chain)));
        let mark = Expression::Number(rules.generation);
        let ct_mark = || ct("mark");
        let statements: Vec<Vec<Statement<'static>>> = vec![
            // Allowed networks: checked on every packet, so a narrowed list cuts a live flow.
            vec![is(field("ip", "daddr"), text(&format!("@{}", cidr_set(slot)))), accept()],
            // Flows opened to an address the resolver admitted under this policy outlive the
            // admission (its element's timeout); a new policy has a new mark and cuts them.
            vec![ct_state(&["established", "related"]), is(ct_mark(), mark.clone()), accept()],
            vec![
                ct_state(&["new"]),
                is(field("ip", "daddr"), text(&format!("@{}", dns_set(slot)))),
                Statement::Mangle(Mangle { key: ct_mark(), value: mark }),
                accept(),
            ],
            vec![goto(DENY)],
        ];
        for expr in statements {
            tx.add(self.rule(&chain, expr));
        }
        tx.add(self.element(RESTRICTED, vec![self.restricted_entry(slot, rules.address)]));
    }

    fn restricted_entry(&self, slot: u32, address: Ipv4Addr) -> Expression<'static> {
        Expression::List(vec![
            text(&address.to_string()),
            Expression::Verdict(Verdict::Goto(JumpTarget { target: sandbox_chain(slot).into() })),
        ])
    }

    fn table_object(&self) -> Table<'static> {
        Table { family: NfFamily::INet, name: self.table.clone().into(), handle: None }
    }

    fn add_contents(&self, tx: &mut Transaction) {
        tx.add(self.set("never4", &self.never, true));
        tx.add(self.set("allowed_nets4", &self.allowed, true));
        tx.add(self.set(BLOCKED, &[], false));
        tx.add(NfListObject::Set(Box::new(Set {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: LINKS.into(),
            set_type: SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ipv4Addr, SetType::Ipv4Addr])),
            ..Set::default()
        })));
        tx.raw(json!({ "add": { "map": {
            "family": "inet", "table": self.table, "name": RESTRICTED, "type": "ipv4_addr", "map": "verdict",
        } } }));
        // Every element carries a counter: `ip saddr @denied4` in the deny chain counts.
        tx.raw(json!({ "add": { "set": {
            "family": "inet", "table": self.table, "name": DENIED, "type": "ipv4_addr",
            "stmt": [{ "counter": null }],
        } } }));

        let base = |name: &str, hook: NfHook, kind: NfChainType, prio: i32| Chain {
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..self.chain(name)
        };
        // Priorities: raw is -300, filter 0 and srcnat 100. The filter chains run just before
        // other filter tables' chains; a drop elsewhere still drops (a drop is final anywhere).
        tx.add(NfListObject::Chain(base("prerouting", NfHook::Prerouting, NfChainType::Filter, -300)));
        tx.add(NfListObject::Chain(base("input", NfHook::Input, NfChainType::Filter, -1)));
        tx.add(NfListObject::Chain(base("forward", NfHook::Forward, NfChainType::Filter, -1)));
        tx.add(NfListObject::Chain(self.chain(EGRESS)));
        tx.add(NfListObject::Chain(self.chain(POLICIES)));
        tx.add(NfListObject::Chain(self.chain(DENY)));
        tx.add(NfListObject::Chain(base("postrouting", NfHook::Postrouting, NfChainType::NAT, 100)));

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
            // A blocked sandbox receives nothing, not even answers on flows it had open.
            ("forward", vec![to_sandbox(), is(field("ip", "daddr"), text(&format!("@{BLOCKED}"))), drop()]),
            // Nothing outside opens a connection to a sandbox; answers to its own go through.
            ("forward", vec![to_sandbox(), ct_state(&["established", "related"]), accept()]),
            ("forward", vec![to_sandbox(), drop()]),
            // Sandboxes have no IPv6 (it is off in their namespace); this holds if one tried.
            (EGRESS, vec![is(meta(MetaKey::Nfproto), text("ipv6")), goto(DENY)]),
            // Linked sandboxes reach each other, whatever their policies say.
            (
                EGRESS,
                vec![
                    is(
                        Expression::Named(NamedExpression::Concat(vec![field("ip", "saddr"), field("ip", "daddr")])),
                        text(&format!("@{LINKS}")),
                    ),
                    accept(),
                ],
            ),
            (EGRESS, vec![is(field("ip", "daddr"), prefix(self.range)), goto(DENY)]),
            (EGRESS, vec![is(field("ip", "daddr"), text("@allowed_nets4")), goto(POLICIES)]),
            (EGRESS, vec![is(field("ip", "daddr"), text("@never4")), goto(DENY)]),
            (EGRESS, vec![goto(POLICIES)]),
            // Each sandbox's own policy: checked on every packet, so a change acts at once.
            (POLICIES, vec![is(field("ip", "saddr"), text(&format!("@{BLOCKED}"))), goto(DENY)]),
            (
                POLICIES,
                vec![Statement::VerdictMap(VerdictMap {
                    key: field("ip", "saddr"),
                    data: text(&format!("@{RESTRICTED}")),
                })],
            ),
            (POLICIES, vec![accept()]),
            // Counted per sandbox address (a lookup in a set whose elements carry counters).
            (DENY, vec![is(field("ip", "saddr"), text(&format!("@{DENIED}")))]),
            (
                DENY,
                vec![
                    Statement::Limit(nftables::stmt::Limit {
                        rate: 20,
                        rate_unit: None,
                        per: Some("second".into()),
                        burst: Some(40),
                        burst_unit: None,
                        inv: None,
                    }),
                    Statement::Log(Some(Log {
                        prefix: None,
                        group: Some(u32::from(self.log_group)),
                        snaplen: Some(64),
                        queue_threshold: None,
                        level: None,
                        flags: None,
                    })),
                ],
            ),
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
            tx.add(self.rule(chain, expr));
        }
    }

    fn wildcard(&self) -> String {
        format!("{}*", self.link_prefix)
    }

    fn chain(&self, name: &str) -> Chain<'static> {
        Chain {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: name.to_string().into(),
            ..Chain::default()
        }
    }

    fn rule(&self, chain: &str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
        NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            chain: chain.to_string().into(),
            expr: expr.into(),
            ..Rule::default()
        })
    }

    fn element(&self, set: &str, elem: Vec<Expression<'static>>) -> NfListObject<'static> {
        NfListObject::Element(Element {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: set.to_string().into(),
            elem: Cow::Owned(elem),
        })
    }

    fn dns_set_object(&self, slot: u32) -> NfListObject<'static> {
        NfListObject::Set(Box::new(Set {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            name: dns_set(slot).into(),
            set_type: SetTypeValue::Single(SetType::Ipv4Addr),
            flags: Some(HashSet::from([SetFlag::Timeout])),
            ..Set::default()
        }))
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

/// The packet count of `address`'s element in a `nft -j list set` listing of the counter set.
pub(crate) fn counter_of(listing: &Value, address: Ipv4Addr) -> Option<u64> {
    let wanted = address.to_string();
    listing["nftables"].as_array()?.iter().find_map(|object| {
        object["set"]["elem"].as_array()?.iter().find_map(|element| {
            let element = &element["elem"];
            (element["val"].as_str()? == wanted).then(|| element["counter"]["packets"].as_u64())?
        })
    })
}

/// What a `nft -j list table` listing holds for slots and addresses outside `slots` and
/// `addresses` (those of running and pooled sandboxes): per-slot chains and sets, and elements
/// of the shared sets and the verdict map (not the counters, which stay per address).
pub(crate) fn leftovers(listing: &Value, slots: &HashSet<u32>, addresses: &HashSet<Ipv4Addr>) -> Vec<String> {
    // A per-slot object's name; `Some(None)` when its slot does not parse.
    let slot_of = |name: &str| {
        ["sandbox_", "cidr_", "dns_"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))
            .map(|hex| u32::from_str_radix(hex, 16).ok())
    };
    let mut found = Vec::new();
    for object in listing["nftables"].as_array().into_iter().flatten() {
        for kind in ["chain", "set", "map"] {
            let Some(name) = object[kind]["name"].as_str() else { continue };
            if slot_of(name).is_some_and(|slot| slot.is_none_or(|slot| !slots.contains(&slot))) {
                found.push(format!("nft {kind} {name}"));
            }
            if [BLOCKED, RESTRICTED, LINKS].contains(&name) {
                for element in object[kind]["elem"].as_array().into_iter().flatten() {
                    // Plain values, counted elements and map pairs all name the address first.
                    let values: Vec<&str> = match element["concat"].as_array() {
                        Some(parts) => parts.iter().filter_map(Value::as_str).collect(),
                        None => element
                            .as_str()
                            .or_else(|| element["elem"]["val"].as_str())
                            .or_else(|| element[0].as_str())
                            .into_iter()
                            .collect(),
                    };
                    let held = !values.is_empty()
                        && values.iter().all(|v| v.parse::<Ipv4Addr>().is_ok_and(|a| addresses.contains(&a)));
                    if !held {
                        found.push(format!("nft {name} element {element}"));
                    }
                }
            }
        }
    }
    found
}

fn pair(a: Ipv4Addr, b: Ipv4Addr) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![text(&a.to_string()), text(&b.to_string())]))
}

fn sandbox_chain(slot: u32) -> String {
    format!("sandbox_{slot:x}")
}

fn cidr_set(slot: u32) -> String {
    format!("cidr_{slot:x}")
}

fn dns_set(slot: u32) -> String {
    format!("dns_{slot:x}")
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

fn ct(key: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(nftables::expr::CT { key: key.to_string().into(), family: None, dir: None }))
}

fn ct_state(states: &[&str]) -> Statement<'static> {
    Statement::Match(Match {
        left: ct("state"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset(table: &str) -> Ruleset {
        Ruleset {
            table: table.to_string(),
            link_prefix: "sbzzv".into(),
            range: "10.215.0.0/24".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 215, 0, 1),
            never: vec!["10.0.0.0/8".parse().unwrap()],
            allowed: vec![],
            log_group: 99,
        }
    }

    fn rules(slot: u32, policy: EgressPolicy) -> SlotRules {
        SlotRules { slot, address: Ipv4Addr::new(10, 215, 0, slot as u8), policy, generation: 42 }
    }

    fn policies() -> Vec<SlotRules> {
        vec![
            rules(2, EgressPolicy::default()),
            rules(3, EgressPolicy { block_all: true, ..EgressPolicy::default() }),
            rules(
                4,
                EgressPolicy {
                    allow_cidrs: vec!["198.18.0.3/32".parse().unwrap(), "198.18.0.0/30".parse().unwrap()],
                    allow_domains: vec!["*.allowed.test".into()],
                    ..EgressPolicy::default()
                },
            ),
        ]
    }

    /// The commands of a transaction, as nft reads them.
    fn commands(tx: &Transaction) -> Vec<Value> {
        let document: Value = serde_json::from_str(&tx.payload()).unwrap();
        document["nftables"].as_array().unwrap().clone()
    }

    #[test]
    fn open_sandboxes_have_only_a_counter_and_restricted_ones_their_own_chain() {
        let tx = ruleset("sandbar_zz").replace(&policies());
        let text = tx.payload();
        let blocked: Vec<Value> = commands(&tx)
            .into_iter()
            .filter(|c| c["add"]["element"]["name"] == "blocked4")
            .map(|c| c["add"]["element"]["elem"].clone())
            .collect();
        assert_eq!(blocked, vec![json!(["10.215.0.3"])]);
        assert!(text.contains("sandbox_4") && text.contains("cidr_4") && text.contains("dns_4"));
        assert!(!text.contains("sandbox_2") && !text.contains("sandbox_3"), "only allow lists get a chain");
        // The two overlapping networks are merged into one interval.
        assert!(text.contains(r#""addr":"198.18.0.0","len":30"#) && !text.contains("198.18.0.3"));
        let map = commands(&tx).into_iter().find(|c| c["add"]["map"]["name"] == "restricted4").unwrap();
        assert_eq!(map["add"]["map"]["map"], "verdict");
    }

    #[test]
    fn a_policy_change_first_clears_every_object_of_the_slot() {
        let tx = ruleset("sandbar_zz")
            .set_policy(&rules(3, EgressPolicy { block_all: true, ..EgressPolicy::default() }), true);
        let commands = commands(&tx);
        let deletes: Vec<&Value> = commands.iter().filter_map(|c| c.get("delete")).collect();
        assert_eq!(deletes.len(), 5, "blocked and restricted elements, chain and both sets: {deletes:?}");
        // Every delete is preceded by an add of the same object, so none can fail.
        let last = commands.last().unwrap();
        assert_eq!(last["add"]["element"]["name"], "blocked4");
    }

    #[test]
    fn counters_are_read_from_a_listing() {
        let listing = json!({ "nftables": [
            { "metainfo": { "version": "1.0.6" } },
            { "set": { "name": "denied4", "elem": [
                { "elem": { "val": "10.215.0.2", "counter": { "packets": 0, "bytes": 0 } } },
                { "elem": { "val": "10.215.0.3", "counter": { "packets": 7, "bytes": 420 } } },
            ] } },
        ] });
        assert_eq!(counter_of(&listing, Ipv4Addr::new(10, 215, 0, 3)), Some(7));
        assert_eq!(counter_of(&listing, Ipv4Addr::new(10, 215, 0, 2)), Some(0));
        assert_eq!(counter_of(&listing, Ipv4Addr::new(10, 215, 0, 9)), None);
    }

    /// The kernel is the judge of the JSON: every transaction kind applied to a real table
    /// (root; CI runs as root), then the table removed.
    #[test]
    fn the_kernel_accepts_every_transaction() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root (CI runs as root)");
        let nft = crate::host_tools::path_of("nft").expect("nft is installed (scripts/install-deps)");
        let ruleset = ruleset("sandbar_unit");
        let run = |tx: &Transaction| {
            let no_args: [&str; 0] = [];
            nftables::helper::apply_ruleset_raw(&tx.payload(), Some(&nft), no_args)
        };
        let result = (|| {
            run(&ruleset.replace(&policies()))?;
            run(&ruleset.counted(Ipv4Addr::new(10, 215, 0, 5)))?;
            let names = EgressPolicy { allow_domains: vec!["a.test".into()], ..Default::default() };
            run(&ruleset.set_policy(&rules(5, names), false))?;
            run(&ruleset.admit(5, &[(Ipv4Addr::new(198, 18, 0, 9), 300)]))?;
            run(&ruleset.link(Ipv4Addr::new(10, 215, 0, 5), Ipv4Addr::new(10, 215, 0, 2)))?;
            run(&ruleset.unlink(Ipv4Addr::new(10, 215, 0, 5), &[Ipv4Addr::new(10, 215, 0, 2)]))?;
            // Unlinking what is not linked is harmless.
            run(&ruleset.unlink(Ipv4Addr::new(10, 215, 0, 5), &[Ipv4Addr::new(10, 215, 0, 2)]))?;
            run(&ruleset.link(Ipv4Addr::new(10, 215, 0, 4), Ipv4Addr::new(10, 215, 0, 2)))?;
            run(&ruleset.set_policy(&rules(5, EgressPolicy { block_all: true, ..Default::default() }), true))?;
            run(&ruleset.set_policy(&rules(4, EgressPolicy::default()), true))?;
            run(&ruleset.release(5, Ipv4Addr::new(10, 215, 0, 5), &[], true))?;
            run(&ruleset.release(3, Ipv4Addr::new(10, 215, 0, 3), &[Ipv4Addr::new(10, 215, 0, 2)], true))?;
            // Releasing twice is harmless (a slot given back after a failed cleanup).
            run(&ruleset.release(3, Ipv4Addr::new(10, 215, 0, 3), &[Ipv4Addr::new(10, 215, 0, 2)], true))?;
            let output =
                std::process::Command::new(&nft).args(["list", "table", "inet", "sandbar_unit"]).output().unwrap();
            let json = std::process::Command::new(&nft)
                .args(["-j", "list", "table", "inet", "sandbar_unit"])
                .output()
                .unwrap();
            let json: Value = serde_json::from_slice(&json.stdout).unwrap();
            Ok::<_, nftables::helper::NftablesError>((String::from_utf8_lossy(&output.stdout).into_owned(), json))
        })();
        let removed = run(&ruleset.remove());
        let (listing, json) = result.expect("nft accepts the transactions");
        removed.expect("the table is removed");
        let held: HashSet<u32> = HashSet::from([2, 4]);
        let addresses: HashSet<Ipv4Addr> = held.iter().map(|slot| Ipv4Addr::new(10, 215, 0, *slot as u8)).collect();
        assert_eq!(leftovers(&json, &held, &addresses), Vec::<String>::new());
        let found = leftovers(&json, &HashSet::from([2]), &HashSet::from([Ipv4Addr::new(10, 215, 0, 2)]));
        assert_eq!(found.len(), 2, "both link directions of slot 4 are not held: {found:?}");
        for gone in ["sandbox_4", "sandbox_5", "cidr_5", "dns_5"] {
            assert!(!listing.contains(gone), "{gone} left in:\n{listing}");
        }
        assert!(listing.contains("10.215.0.2"), "the open sandbox keeps its counter:\n{listing}");
    }
}
