package postgres

// Guesses reports how many batches s ran speculatively, and how many of
// those guesses the database refused.
func Guesses(s *Store) (tried, wrong int64) { return s.guesses.Load(), s.wrongGuesses.Load() }
