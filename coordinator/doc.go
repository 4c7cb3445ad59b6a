// Package coordinator is the coordinator process: the Coordinator and Ledger
// services, the round scheduler, scoring and settlement. It never links
// libtorch.
package coordinator
