import { Entity, Index, ManyToOne, PrimaryKey, Property, Unique, type Rel } from '@mikro-orm/core';
import type { User } from '../identity/user.entity.js';

/**
 * How a ticket reaches the person: a mini program code to scan, a URL Link a phone opens, or an
 * Official Account's parametric QR code whose follow or scan WeChat pushes to us.
 */
export const LoginTicketKind = {
  MINI_PROGRAM_CODE: 'MINI_PROGRAM_CODE',
  MINI_PROGRAM_LINK: 'MINI_PROGRAM_LINK',
  OFFICIAL_ACCOUNT_QR: 'OFFICIAL_ACCOUNT_QR',
} as const;
export type LoginTicketKind = (typeof LoginTicketKind)[keyof typeof LoginTicketKind];

/**
 * Where a ticket is. Stored: WAITING, SCANNED, CONFIRMED, CANCELLED. EXPIRED is never stored: a
 * ticket WAITING or SCANNED past its `expiresAt` is expired (src/login-tickets/login-tickets.ts).
 */
export const LoginTicketState = {
  WAITING: 'WAITING',
  SCANNED: 'SCANNED',
  CONFIRMED: 'CONFIRMED',
  CANCELLED: 'CANCELLED',
  EXPIRED: 'EXPIRED',
} as const;
export type LoginTicketState = (typeof LoginTicketState)[keyof typeof LoginTicketState];

/**
 * A login ticket: a waiting page (a website, a phone browser) asks to be signed in by whoever
 * confirms it in the mini program, or follows or scans the Official Account's code. The page holds
 * its id and secret (only the secret's hash is stored); the code or link carries only the scene.
 */
@Entity({ tableName: 'login_ticket' })
export class LoginTicket {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'text' })
  kind!: LoginTicketKind;

  /**
   * The mini program whose code or link carries the scene, and whose users may confirm it; or the
   * Official Account whose QR code carries it, whose pushed follow or scan confirms it.
   */
  @Property({ type: 'text' })
  appId!: string;

  /** What the code or link carries: at most 32 characters of [A-Za-z0-9]. */
  @Property({ type: 'text' })
  @Unique({ name: 'login_ticket_scene_unique' })
  scene!: string;

  /** SHA-256 (hex) of the secret its creator holds. */
  @Property({ type: 'text' })
  secretHash!: string;

  /** WAITING, SCANNED, CONFIRMED or CANCELLED. */
  @Property({ type: 'text' })
  state!: string;

  /**
   * Who scanned it: the only user who may confirm or cancel it, and whose session the page gets
   * (an Official Account QR: who followed or scanned it, set with the confirmation).
   */
  @ManyToOne({ entity: 'User', nullable: true, deleteRule: 'cascade' })
  user: Rel<User> | null = null;

  @Property({ type: 'datetime' })
  createdAt!: Date;

  /** Past this, a ticket not yet confirmed or cancelled is expired; housekeeping deletes it later. */
  @Property({ type: 'datetime' })
  @Index({ name: 'login_ticket_expires_at_index' })
  expiresAt!: Date;

  @Property({ type: 'datetime', nullable: true })
  scannedAt: Date | null = null;

  /** When it was confirmed or cancelled. */
  @Property({ type: 'datetime', nullable: true })
  finishedAt: Date | null = null;

  /** When the waiting page was given its session (once). */
  @Property({ type: 'datetime', nullable: true })
  deliveredAt: Date | null = null;
}
