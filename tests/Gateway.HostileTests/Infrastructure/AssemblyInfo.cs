// One scenario at a time: each floods the 2 cores and the loopback on purpose, and measures the gateway's memory, which
// another scenario's gateway and clients running beside it would blur.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
