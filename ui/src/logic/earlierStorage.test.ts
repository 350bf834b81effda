import { describe, expect, it } from 'vitest';
import { forgetEarlierStorage } from './earlierStorage';

describe('forgetEarlierStorage', () => {
  it('forgets the address an earlier version kept, and nothing else', () => {
    localStorage.setItem('clinic.lastServerUrl', 'https://earlier.example:8443');
    localStorage.setItem('something.else', 'kept');
    forgetEarlierStorage();
    expect(localStorage.getItem('clinic.lastServerUrl')).toBeNull();
    expect(localStorage.getItem('something.else')).toBe('kept');
  });

  it('does not throw where storage is refused', () => {
    const refusing = {
      removeItem() {
        throw new DOMException('denied', 'SecurityError');
      },
    } as unknown as Storage;
    expect(() => forgetEarlierStorage(refusing)).not.toThrow();
  });
});
