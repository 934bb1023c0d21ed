package httplimit

// PolicyField returns the RateLimit-Policy value g sends.
func PolicyField(g *Gate) string { return g.policy[0] }
