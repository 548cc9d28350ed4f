"""The only place that talks to Stripe. Importing this package does not import ``stripe``;
each function imports it when a route actually needs Stripe (cold starts: ~100 ms)."""
