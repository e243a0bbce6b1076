namespace Gateway.Messaging;

/// <summary>A value that remembers its place in a <see cref="SubscriberList{T}"/>, so it is removed without a search.</summary>
internal interface ISubscriberListItem
{
    /// <summary>Its index in the list's array; kept by the list, under the caller's writer lock.</summary>
    int Slot { get; set; }
}

/// <summary>
/// The subscriptions to one exact topic: added and removed in constant time (amortised), read by publishers without a
/// lock. A copy-on-write array, which this replaces, copied every subscriber on each subscribe: connecting N clients
/// that share a topic cost O(N²), and past ~10,600 subscribers each copy was a Large Object Heap allocation.
/// </summary>
/// <remarks>
/// <para>The items sit in an array with room to grow; a removal leaves a null in its slot, which readers skip, and once
/// half the slots are empty the live items are packed into a new array. An add writes its slot before it publishes the
/// count, and a new array is published before the count that needs it, so a reader that takes the count and then
/// the array (<see cref="Read"/>) sees each slot below the count written, or null; it never sees an item twice.</para>
/// <para>Writers (<see cref="Add"/>, <see cref="Remove"/>) must be serialised by the caller. A reader sees the list as
/// it was at some moment during its read, as with a copy-on-write array: an item removed meanwhile may still be
/// handed to it, one added meanwhile may not.</para>
/// </remarks>
internal sealed class SubscriberList<T> where T : class, ISubscriberListItem
{
    private const int InitialCapacity = 4;

    private T?[] _items = new T?[InitialCapacity];
    private int _count; // slots in use, removed ones included
    private int _removed; // null slots below _count

    /// <summary>How many items the list holds.</summary>
    public int Live => _count - _removed;

    /// <summary>The array and how many of its slots to read; a null slot is a removed item, to skip.</summary>
    public ReadOnlySpan<T?> Read()
    {
        var count = Volatile.Read(ref _count);
        var items = Volatile.Read(ref _items);
        return items.AsSpan(0, Math.Min(count, items.Length));
    }

    public void Add(T item)
    {
        var items = _items;
        if (_count == items.Length)
        {
            var grown = new T?[items.Length * 2];
            Array.Copy(items, grown, _count);
            items = grown;
        }

        item.Slot = _count;
        items[_count] = item;
        Volatile.Write(ref _items, items); // before the count that reaches into it
        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>Removes <paramref name="item"/>; false if it is not in the list.</summary>
    public bool Remove(T item)
    {
        var slot = item.Slot;
        if ((uint)slot >= (uint)_count || !ReferenceEquals(_items[slot], item)) return false;
        Volatile.Write(ref _items[slot], null);
        item.Slot = -1;
        _removed++;
        if (_count > InitialCapacity && _removed * 2 >= _count) Pack();
        return true;
    }

    /// <summary>Moves the live items into a new array, half full, so that removals never leave the list mostly holes.</summary>
    private void Pack()
    {
        var live = Live;
        var packed = new T?[Math.Max(InitialCapacity, live * 2)];
        var next = 0;
        foreach (var item in _items.AsSpan(0, _count))
        {
            if (item is null) continue;
            item.Slot = next;
            packed[next++] = item;
        }

        // Array first, count second, as in Add: a reader with the old, larger count clamps it to this array, whose
        // slots past the live items are null.
        Volatile.Write(ref _items, packed);
        _removed = 0;
        Volatile.Write(ref _count, live);
    }
}
