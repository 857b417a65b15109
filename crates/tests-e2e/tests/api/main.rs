//! One test binary: the real binaries end to end, and the static Docker checks.

mod helpers;
mod journeys;
mod login;
mod outages;
