"""Analysis of what arrived: MIME structure and documents, under explicit limits."""
