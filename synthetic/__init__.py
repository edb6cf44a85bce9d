"""The synthetic card world: cards, terminals, their transactions and the fraud scenarios planted in
them, with chargebacks a label delay later. Shared data, not a component: the producer streams it,
`train --generate` and `generate` write it, and the demo, the benchmarks and the tests run on it."""
