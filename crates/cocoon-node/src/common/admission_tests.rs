//! Unit tests of the pre-handshake admission counters.

use super::*;

fn limits(max_pending: usize, per_address: usize) -> AdmissionLimits {
    AdmissionLimits {
        max_pending,
        max_pending_per_address: per_address,
        ..AdmissionLimits::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn the_global_cap_counts_every_address_and_frees_on_drop() {
    let port = PortAdmission::new(limits(2, 10), "clients", true);
    let a = port.admit(ip("10.0.0.1")).expect("first");
    let _b = port.admit(ip("10.0.0.2")).expect("second");
    assert_eq!(
        port.admit(ip("10.0.0.3")).err(),
        Some(ShedReason::GlobalCap)
    );
    drop(a);
    assert_eq!(port.pending(), 1);
    port.admit(ip("10.0.0.3"))
        .expect("a freed place is taken again");
    assert_eq!(port.shed_total().global_cap, 1);
}

#[test]
fn the_address_cap_holds_one_address_and_not_another() {
    let port = PortAdmission::new(limits(100, 2), "workers", true);
    let _held: Vec<_> = (0..2)
        .map(|_| port.admit(ip("127.0.0.2")).expect("under the cap"))
        .collect();
    assert_eq!(
        port.admit(ip("127.0.0.2")).err(),
        Some(ShedReason::AddressCap)
    );
    port.admit(ip("127.0.0.1"))
        .expect("another address still gets in");
    assert_eq!(port.shed_total().address_cap, 1);
}

#[test]
fn behind_a_router_only_the_global_cap_applies() {
    let port = PortAdmission::new(limits(3, 1), "workers", false);
    let _held: Vec<_> = (0..3)
        .map(|_| port.admit(ip("127.0.0.1")).expect("no per-address cap"))
        .collect();
    assert_eq!(
        port.admit(ip("127.0.0.1")).err(),
        Some(ShedReason::GlobalCap)
    );
}

#[test]
fn ipv6_sources_count_by_their_64_prefix() {
    let port = PortAdmission::new(limits(100, 1), "clients", true);
    let _a = port.admit(ip("2001:db8:1:2::1")).expect("first");
    assert_eq!(
        port.admit(ip("2001:db8:1:2:ffff::9")).err(),
        Some(ShedReason::AddressCap),
        "same /64"
    );
    port.admit(ip("2001:db8:1:3::1")).expect("another /64");
    let _v4 = port.admit(ip("10.1.1.1")).expect("v4");
    assert_eq!(
        port.admit(ip("::ffff:10.1.1.1")).err(),
        Some(ShedReason::AddressCap),
        "an IPv4-mapped source is its IPv4 address"
    );
}

#[test]
fn the_default_deadline_fits_the_default_pow_with_margin() {
    let fits =
        |deadline, difficulty| deadline_fits_pow(deadline, difficulty, SLOW_PEER_HASHES_PER_SECOND);
    assert!(fits(AdmissionLimits::DEADLINE, 20));
    assert!(fits(AdmissionLimits::DEADLINE, 21));
    assert!(!fits(AdmissionLimits::DEADLINE, 24));
    assert!(fits(Duration::from_secs(60), 24));
    assert!(!fits(Duration::from_secs(3600), 64));
    let debug = DEBUG_BUILD_HASHES_PER_SECOND;
    assert!(!deadline_fits_pow(AdmissionLimits::DEADLINE, 20, debug));
    assert!(deadline_fits_pow(AdmissionLimits::DEADLINE, 12, debug));
}

#[test]
fn sheds_are_reported_once_per_interval_and_none_are_lost() {
    let port = PortAdmission::new(limits(0, 0), "clients", true);
    for _ in 0..5 {
        assert!(port.admit(ip("10.0.0.1")).is_err());
    }
    let st = port.state();
    assert!(st.last_report.is_some(), "the first shed is reported");
    assert_eq!(
        st.unreported.global_cap, 4,
        "the next four wait for the interval"
    );
    drop(st);
    port.state().last_report = Some(Instant::now() - SHED_LOG_INTERVAL);
    port.report_if_due();
    assert!(
        !port.state().unreported.any(),
        "reported after the interval"
    );
    assert_eq!(port.shed_total().global_cap, 5);
}
