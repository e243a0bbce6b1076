using System.Collections.Concurrent;
using Gateway.Protocols.Topics;

namespace Gateway.Messaging;

/// <summary>
/// Wildcard filters as a tree of their levels, so that matching a topic visits only the filters that can match it: at
/// each level the child named like the topic's level, the <c>+</c> child and the <c>#</c> child, however many other
/// filters the tree holds. Answers exactly what <see cref="TopicFilter.Matches(string)"/> answers for each filter.
/// </summary>
/// <remarks>
/// Readers take no lock and allocate nothing: a node's named children sit in a concurrent dictionary looked up by
/// the level's span, and the values of the filters that end at a node in an array replaced whole on each change, so a
/// reader sees each node before or after a change, never half of one. Writers (<see cref="Add"/>,
/// <see cref="Remove"/>) must be serialised by the caller; each costs the filter's depth plus the values that share
/// its filter, whatever else the tree holds.
/// </remarks>
internal sealed class TopicFilterTree<T> where T : class
{
    /// <summary>Receives the values of each matching filter; a ref struct may carry what the caller needs (a span).</summary>
    public interface IVisitor
    {
        void Visit(T[] values);
    }

    private readonly Node _root = new(parent: null, level: "");

    /// <summary>How many values the tree holds.</summary>
    public int Count { get; private set; }

    public void Add(TopicFilter filter, T value)
    {
        var node = _root;
        foreach (var level in filter.Value.Split(Topic.LevelSeparator))
            node = node.GetOrAddChild(level);
        node.Values = [.. node.Values, value];
        Count++;
    }

    /// <summary>Removes one value of <paramref name="filter"/>, and the nodes that are left with nothing below them.</summary>
    public bool Remove(TopicFilter filter, T value)
    {
        var node = _root;
        foreach (var level in filter.Value.Split(Topic.LevelSeparator))
        {
            node = node.FindChild(level);
            if (node is null) return false;
        }

        var index = Array.IndexOf(node.Values, value);
        if (index < 0) return false;
        node.Values = node.Values.Length == 1 ? [] : [.. node.Values.AsSpan(0, index), .. node.Values.AsSpan(index + 1)];
        Count--;
        while (node.Parent is { } parent && node.IsEmpty)
        {
            parent.RemoveChild(node);
            node = parent;
        }

        return true;
    }

    /// <summary>The values added with exactly <paramref name="filter"/> (not those of other filters that match the same topics).</summary>
    public T[] ValuesOf(TopicFilter filter)
    {
        var node = _root;
        ReadOnlySpan<char> rest = filter.Value;
        while (node is not null)
        {
            var separator = rest.IndexOf(Topic.LevelSeparator);
            var level = separator < 0 ? rest : rest[..separator];
            node = level switch
            {
                "+" => node.SingleLevel,
                "#" => node.MultiLevel,
                _ => node.FindNamed(level),
            };
            if (separator < 0) break;
            rest = rest[(separator + 1)..];
        }

        return node?.Values ?? [];
    }

    /// <summary>Hands <paramref name="visitor"/> the values of every filter that matches <paramref name="topic"/>.</summary>
    public void Match<TVisitor>(ReadOnlySpan<char> topic, ref TVisitor visitor)
        where TVisitor : IVisitor, allows ref struct
        => Visit(_root, topic, atEnd: false, ref visitor);

    /// <summary><paramref name="topic"/> is what is left of the topic after the levels that led to <paramref name="node"/>.</summary>
    private static void Visit<TVisitor>(Node node, ReadOnlySpan<char> topic, bool atEnd, ref TVisitor visitor)
        where TVisitor : IVisitor, allows ref struct
    {
        // '#' matches whatever is left, nothing included: "a/#" matches "a" as well as "a/b/c".
        if (node.MultiLevel is { } multiLevel) visitor.Visit(multiLevel.Values);
        if (atEnd)
        {
            if (node.Values.Length > 0) visitor.Visit(node.Values);
            return;
        }

        var separator = topic.IndexOf(Topic.LevelSeparator);
        var level = separator < 0 ? topic : topic[..separator];
        var rest = separator < 0 ? default : topic[(separator + 1)..];
        if (node.FindNamed(level) is { } named) Visit(named, rest, separator < 0, ref visitor);
        if (node.SingleLevel is { } singleLevel) Visit(singleLevel, rest, separator < 0, ref visitor);
    }

    /// <summary>
    /// One level of one or more filters. The wildcards' children are fields of their own, so a topic's level, which
    /// never is a wildcard, is only ever looked up among the named ones.
    /// </summary>
    private sealed class Node(Node? parent, string level)
    {
        private ConcurrentDictionary<string, Node>? _named; // made on the first named child: most nodes are leaves
        private ConcurrentDictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>> _namedBySpan;

        public Node? Parent { get; } = parent;

        public string Level { get; } = level;

        /// <summary>The values of the filters that end at this node; replaced whole, never changed in place.</summary>
        public volatile T[] Values = [];

        public volatile Node? SingleLevel;

        public volatile Node? MultiLevel;

        public bool IsEmpty => Values.Length == 0 && SingleLevel is null && MultiLevel is null && (_named is null || _named.IsEmpty);

        /// <summary>The child for a filter's level, a wildcard's included.</summary>
        public Node? FindChild(string name) => name switch
        {
            "+" => SingleLevel,
            "#" => MultiLevel,
            _ => FindNamed(name),
        };

        /// <summary>The child named <paramref name="name"/>; a topic's level, so never a wildcard's child.</summary>
        public Node? FindNamed(ReadOnlySpan<char> name) =>
            Volatile.Read(ref _named) is not null && _namedBySpan.TryGetValue(name, out var child) ? child : null;

        public Node GetOrAddChild(string name)
        {
            switch (name)
            {
                case "+": return SingleLevel ??= new Node(this, name);
                case "#": return MultiLevel ??= new Node(this, name);
            }

            if (_named is null)
            {
                var named = new ConcurrentDictionary<string, Node>(StringComparer.Ordinal);
                _namedBySpan = named.GetAlternateLookup<ReadOnlySpan<char>>();
                Volatile.Write(ref _named, named); // after the lookup a reader uses once it sees the dictionary
            }

            return _named.GetOrAdd(name, static (key, parent) => new Node(parent, key), this);
        }

        public void RemoveChild(Node child)
        {
            if (ReferenceEquals(SingleLevel, child)) SingleLevel = null;
            else if (ReferenceEquals(MultiLevel, child)) MultiLevel = null;
            else _named?.TryRemove(child.Level, out _);
        }
    }
}
