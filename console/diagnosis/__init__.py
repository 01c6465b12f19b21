"""What the curves say: the findings vocabulary, curve helpers, one rule module per problem, fixes."""
