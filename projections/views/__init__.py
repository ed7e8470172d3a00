"""One module per view, each a pure function of events (plus supplied facts) to a DataFrame.
``lakeledger.projections.registry`` lists them."""
