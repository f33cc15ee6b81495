//! The mutation switch of `cargo xtask mutants --barriers`: which full barrier ([`BarrierSite`]) a test thread
//! treats as removed. `CORE_SCHED_REMOVED_BARRIER=<site>` removes one site in every test of the run, so one test
//! binary serves every mutant; a test may also remove a site on its own thread ([`with_removed`]) to show that
//! its scenario needs that barrier.

use std::cell::Cell;
use std::env;
use std::println;
use std::sync::OnceLock;

use crate::barrier::BarrierSite;

/// The environment variable the mutation run sets to a site's name.
const REMOVED_BARRIER_VARIABLE: &str = "CORE_SCHED_REMOVED_BARRIER";

std::thread_local! {
    /// A test's own choice, which overrides the environment on its thread (`Some(None)`: remove nothing).
    static REMOVED_HERE: Cell<Option<Option<BarrierSite>>> = const { Cell::new(None) };
}

/// The site the environment removes. An unknown name panics, so that a misspelt mutant cannot pass unnoticed.
fn removed_by_environment() -> Option<BarrierSite> {
    static REMOVED: OnceLock<Option<BarrierSite>> = OnceLock::new();
    *REMOVED.get_or_init(|| {
        let name = env::var(REMOVED_BARRIER_VARIABLE).ok().filter(|name| !name.is_empty())?;
        let site = BarrierSite::ALL.into_iter().find(|site| site.name() == name);
        Some(site.unwrap_or_else(|| panic!("{REMOVED_BARRIER_VARIABLE}={name}: no such barrier site")))
    })
}

/// Whether the barrier at `site` is removed for the calling thread.
pub(crate) fn is_removed(site: BarrierSite) -> bool {
    REMOVED_HERE.with(Cell::get).unwrap_or_else(removed_by_environment) == Some(site)
}

/// Runs `body` with `removed` as the only removed barrier on this thread (`None`: every barrier in place,
/// whatever the environment says).
pub(crate) fn with_removed<T>(removed: Option<BarrierSite>, body: impl FnOnce() -> T) -> T {
    let saved = REMOVED_HERE.with(|here| here.replace(Some(removed)));
    let result = body();
    REMOVED_HERE.with(|here| here.set(saved));
    result
}

/// The site list for `cargo xtask mutants --barriers`: one `barrier-site <name> | <litmus>` line per site.
#[test]
#[ignore = "run by cargo xtask mutants --barriers, which reads its output"]
fn list_barrier_sites() {
    for site in BarrierSite::ALL {
        println!("barrier-site {} | {}", site.name(), site.litmus());
    }
}

#[test]
fn the_switch_removes_exactly_the_chosen_site() {
    with_removed(Some(BarrierSite::ExitMm), || {
        assert!(is_removed(BarrierSite::ExitMm));
        assert!(!is_removed(BarrierSite::ScheduleRule1));
    });
    with_removed(None, || assert!(BarrierSite::ALL.iter().all(|&site| !is_removed(site))));
}
