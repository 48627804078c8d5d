/**
 * zod/mini, the only zod API stapctl uses, carries no messages of its own: every issue would read
 * "Invalid input". Fleet mode gives the English ones that zod's full API loads (with all its
 * locales, 300 kB more to compile on every run) for what a user reads: a config value, an answer
 * a host got wrong.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());
