"""Running the checks and shaping their results: plans, runners, states, documents."""
